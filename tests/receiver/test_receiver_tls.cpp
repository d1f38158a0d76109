// TLS and client certificates against the real receiver: curl and openssl s_client with the
// certificates the fixture generates.
#include "receiver_client.hpp"

#include <catch2/catch.hpp>

using namespace labsync::test;

namespace {

std::vector<std::string> cert_args(const std::filesystem::path& cert, const std::filesystem::path& key) {
    return {"--cert", cert.string(), "--key", key.string()};
}

std::vector<std::string> join(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

}  // namespace

TEST_CASE("mTLS: a valid client cert is required - expired, missing and foreign are refused",
          "[receiver][tls]") {
    receiver_fixture rx({.require_client_cert = true, .member_check = false});
    const auto& pki = rx.pki();
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 200000, 7);
    auto good = cert_args(pki.client_cert, pki.client_key);

    CHECK(curl_put(rx, "eq1", "r-token", blob, std::nullopt, good).status == 201);
    // The certificate's CN (eq1) binds it to that equipment, no token needed; not to others.
    auto cert_only = curl(rx.run_url("eq1", "r-cert"),
                          join(join(tls_args(rx), good),
                               {"-T", blob.string(), "-H", "X-Content-SHA256: " + sha256_of_file(blob)}));
    CHECK(cert_only.status == 201);
    auto other_eq = curl(rx.run_url("eq2", "r-cert"),
                         join(join(tls_args(rx), good),
                              {"-T", blob.string(), "-H", "X-Content-SHA256: " + sha256_of_file(blob)}));
    CHECK(other_eq.status == 403);

    auto missing = curl_put(rx, "eq1", "r-none", blob);
    CHECK(missing.status == 0);
    CHECK(missing.curl_exit != 0);
    auto expired =
        curl_put(rx, "eq1", "r-expired", blob, std::nullopt, cert_args(pki.expired_cert, pki.expired_key));
    CHECK(expired.status == 0);
    auto foreign =
        curl_put(rx, "eq1", "r-foreign", blob, std::nullopt, cert_args(pki.foreign_cert, pki.foreign_key));
    CHECK(foreign.status == 0);
    CHECK(store_files(rx.store()) == std::vector<std::string>{"eq1/r-cert.json", "eq1/r-cert.tar.zst",
                                                              "eq1/r-token.json", "eq1/r-token.tar.zst"});
    CHECK(rx.stderr_text().find("TLS handshake failed") != std::string::npos);
}

TEST_CASE("TLS: optional client certs, tokens, and no TLS below 1.2", "[receiver][tls]") {
    receiver_fixture rx({.tls = true, .member_check = false});
    const auto& pki = rx.pki();
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 1000, 8);
    CHECK(curl_put(rx, "eq1", "r1", blob).status == 201);
    CHECK(curl_put(rx, "eq1", "r2", blob, std::nullopt, {"--tls-max", "1.2"}).status == 201);
    CHECK(
        curl_put(rx, "eq1", "r3", blob, std::nullopt, {"-H", "Authorization: Bearer wrong-wrong-wrong-wrong"})
            .status == 401);
    // A presented certificate is verified even when not required.
    CHECK(
        curl_put(rx, "eq1", "r4", blob, std::nullopt, cert_args(pki.expired_cert, pki.expired_key)).status ==
        0);
    // TLS 1.1 and 1.0 are refused by the server (s_client at security level 0 offers them).
    for (std::string version : {"-tls1_1", "-tls1"}) {
        process_options o;
        o.stdin_data = "";
        auto r = run_process({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(rx.port()),
                              version, "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", pki.ca_cert.string()},
                             o);
        INFO(version << " s_client out: " << r.out.substr(0, 400) << "\nerr: " << r.err.substr(0, 400));
        CHECK(r.exit_code != 0);
        CHECK(r.out.find("Cipher is (NONE)") != std::string::npos);  // no session was established
    }
    process_options o;
    o.stdin_data = "";
    auto ok = run_process({"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(rx.port()),
                           "-tls1_2", "-CAfile", pki.ca_cert.string()},
                          o);
    CHECK(ok.out.find("Verify return code: 0 (ok)") != std::string::npos);
    auto curl11 = curl_put(rx, "eq1", "r5", blob, std::nullopt, {"--tlsv1.1", "--tls-max", "1.1"});
    CHECK(curl11.status == 0);
    // Plain HTTP to the TLS port gets no HTTP answer.
    CHECK(raw_status(rx.port(), "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n") == 0);
    CHECK(store_files(rx.store()).size() == 4);
}
