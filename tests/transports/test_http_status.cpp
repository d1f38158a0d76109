// http_put's classification (SPEC §6/§7): one check per row of the status and failure tables,
// plus the receiver URL and token file parsers.
#include "labsync/transports/http_put_config.hpp"
#include "labsync/transports/http_status.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <openssl/sslerr.h>

using namespace labsync::transports;

TEST_CASE("PUT status: 201 and 200 mean stored, verify next", "[http_status]") {
    CHECK(kind_for_put_status(201) == error_kind::none);
    CHECK(kind_for_put_status(200) == error_kind::none);
}

TEST_CASE("PUT status: 409 is conflict", "[http_status]") {
    CHECK(kind_for_put_status(409) == error_kind::conflict);
}

TEST_CASE("PUT status: 401 and 403 are auth", "[http_status]") {
    CHECK(kind_for_put_status(401) == error_kind::auth);
    CHECK(kind_for_put_status(403) == error_kind::auth);
}

TEST_CASE("PUT status: 400 412 are rejected", "[http_status]") {
    CHECK(kind_for_put_status(400) == error_kind::rejected);
    CHECK(kind_for_put_status(412) == error_kind::rejected);
}

TEST_CASE("PUT status: 411 413 are misconfigured (no verdict on the run) with a fix hint", "[http_status]") {
    CHECK(kind_for_put_status(411) == error_kind::misconfigured);
    CHECK(kind_for_put_status(413) == error_kind::misconfigured);
    CHECK_THAT(put_status_hint(413, 123456),
               Catch::Contains("--max-body") && Catch::Contains("123456") && Catch::Contains("syncd retry"));
    CHECK_THAT(put_status_hint(411, 1), Catch::Contains("Content-Length") && Catch::Contains("syncd retry"));
    CHECK(put_status_hint(412, 1).empty());
    CHECK(error_kind_from_string("misconfigured") == error_kind::misconfigured);
}

TEST_CASE("PUT status: 422 is hash_mismatch", "[http_status]") {
    CHECK(kind_for_put_status(422) == error_kind::hash_mismatch);
}

TEST_CASE("PUT status: every 5xx including 507 is network", "[http_status]") {
    for (int s : {500, 502, 503, 504, 507, 599}) {
        INFO(s);
        CHECK(kind_for_put_status(s) == error_kind::network);
    }
}

TEST_CASE("PUT status: anything else is unknown", "[http_status]") {
    for (int s : {100, 204, 301, 302, 404, 405, 408, 418, 429, 600, 0}) {
        INFO(s);
        CHECK(kind_for_put_status(s) == error_kind::unknown);
    }
}

TEST_CASE("probe status: 200 and 404 are answers, auth and 5xx as for PUT", "[http_status]") {
    CHECK(kind_for_probe_status(200) == error_kind::none);
    CHECK(kind_for_probe_status(404) == error_kind::none);
    CHECK(kind_for_probe_status(401) == error_kind::auth);
    CHECK(kind_for_probe_status(403) == error_kind::auth);
    CHECK(kind_for_probe_status(503) == error_kind::network);
    CHECK(kind_for_probe_status(400) == error_kind::unknown);
    // 409 to the verify GET: the stored bytes no longer match their record.
    CHECK(kind_for_probe_status(409) == error_kind::hash_mismatch);
}

TEST_CASE("http_put: the wait for a response that follows a stored-archive read grows with its size",
          "[http_put][unit]") {
    using std::chrono::milliseconds;
    CHECK(stored_read_timeout(milliseconds(60'000), 0) == milliseconds(60'000));
    // 16 MiB/s: 1 GiB adds 64 s.
    CHECK(stored_read_timeout(milliseconds(60'000), std::uint64_t{1} << 30) >= milliseconds(60'000 + 64'000));
    CHECK(stored_read_timeout(milliseconds(60'000), std::uint64_t{1} << 30) <= milliseconds(60'000 + 65'000));
    CHECK(stored_read_timeout(milliseconds(60'000), std::nullopt) == milliseconds(60'000 + 3'600'000));
}

TEST_CASE("failures: timeouts, refusals and resets are network", "[http_status]") {
    for (auto f : {http_failure::resolve_failed, http_failure::connect_refused, http_failure::connect_timeout,
                   http_failure::io_timeout, http_failure::connection_reset, http_failure::tls_other}) {
        INFO(to_string(f));
        CHECK(kind_for_failure(f) == error_kind::network);
    }
}

TEST_CASE("failures: certificate trust problems are auth (terminal misconfiguration)", "[http_status]") {
    CHECK(kind_for_failure(http_failure::tls_server_untrusted) == error_kind::auth);
    CHECK(kind_for_failure(http_failure::tls_client_cert_refused) == error_kind::auth);
}

TEST_CASE("failures: unparseable responses and local read errors are unknown", "[http_status]") {
    CHECK(kind_for_failure(http_failure::protocol_error) == error_kind::unknown);
    CHECK(kind_for_failure(http_failure::local_io_error) == error_kind::unknown);
}

TEST_CASE("TLS reasons: our verification vs the server's alerts vs the rest", "[http_status]") {
    CHECK(failure_for_tls_reason(SSL_R_CERTIFICATE_VERIFY_FAILED) == http_failure::tls_server_untrusted);
    for (int r : {SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE,
                  SSL_R_TLSV1_ALERT_UNKNOWN_CA, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED,
                  SSL_R_TLSV1_ALERT_ACCESS_DENIED, SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN}) {
        INFO(r);
        CHECK(failure_for_tls_reason(r) == http_failure::tls_client_cert_refused);
    }
    CHECK(failure_for_tls_reason(SSL_R_UNEXPECTED_EOF_WHILE_READING) == http_failure::connection_reset);
    CHECK(failure_for_tls_reason(SSL_R_WRONG_VERSION_NUMBER) == http_failure::tls_other);
}

TEST_CASE("body_excerpt keeps one printable line", "[http_status]") {
    CHECK(body_excerpt("commit abc\nnot allowed\r\n") == "commit abc not allowed");
    CHECK(body_excerpt(std::string("a\0b", 3)) == "a?b");
    CHECK(body_excerpt(std::string(1000, 'x'), 10) == std::string(10, 'x') + "…");
}

TEST_CASE("receiver urls", "[http_status]") {
    std::string why;
    auto u = parse_receiver_url("https://store.lab:8443", &why);
    REQUIRE(u);
    CHECK(u->tls);
    CHECK(u->host == "store.lab");
    CHECK(u->port == 8443);
    CHECK(u->base_path.empty());
    auto p = parse_receiver_url("http://127.0.0.1:9/prefix/", &why);
    REQUIRE(p);
    CHECK_FALSE(p->tls);
    CHECK(p->base_path == "/prefix");
    CHECK(parse_receiver_url("https://h", &why)->port == 443);
    CHECK(parse_receiver_url("https://[::1]:5", &why)->host == "::1");
    for (auto bad : {"ftp://h", "https://", "https://h:0", "https://h:70000", "https://h:x", "https://u@h",
                     "https://h/p?q=1", "h:1"}) {
        INFO(bad);
        why.clear();
        CHECK_FALSE(parse_receiver_url(bad, &why));
        CHECK_THAT(why, Catch::Contains(bad));
    }
}

TEST_CASE("token files: trimmed first line, clear errors", "[http_status]") {
    labsync::test::temp_dir t;
    std::string why;
    labsync::test::write_secret_file(t / "tok", "  s3cret-token \nsecond line\n");
    CHECK(read_token_file(t / "tok", &why) == "s3cret-token");
    CHECK(read_token_file(t / "absent", &why).empty());
    CHECK_THAT(why, Catch::Contains("absent") && Catch::Contains("No such file"));
    labsync::test::write_file(t / "blank", "\n\n");
    CHECK(read_token_file(t / "blank", &why).empty());
    CHECK_THAT(why, Catch::Contains("no token"));
    labsync::test::write_file(t / "spaced", "two words\n");
    CHECK(read_token_file(t / "spaced", &why).empty());
}

TEST_CASE("a token file others can write is never sent", "[http_status]") {
    // Anyone who can write it can swap in a token of their own: refused like ssh refuses such a
    // key, naming the file and its mode. Readable by others only is a warning elsewhere (start,
    // doctor), the token is still used.
    labsync::test::temp_dir t;
    std::string why;
    labsync::test::write_secret_file(t / "tok", "s3cret-token\n");
    std::filesystem::permissions(t / "tok", std::filesystem::perms(0644));
    CHECK(read_token_file(t / "tok", &why) == "s3cret-token");
    for (auto mode : {0666, 0620, 0602}) {
        INFO(mode);
        std::filesystem::permissions(t / "tok", std::filesystem::perms(mode));
        why.clear();
        CHECK(read_token_file(t / "tok", &why).empty());
        CHECK_THAT(why, Catch::Contains((t / "tok").string()) && Catch::Contains("writable by"));
    }
    CHECK_THAT(why, Catch::Contains("mode 0602"));
}

TEST_CASE("failure text says nothing twice", "[http_status]") {
    // Before: "connection refused (connecting: Connection refused)".
    CHECK(describe_http_failure(http_failure::connect_refused, "connecting: Connection refused") ==
          "connection refused (connecting)");
    CHECK(describe_http_failure(http_failure::connect_refused, "Connection refused") == "connection refused");
    CHECK(describe_http_failure(http_failure::connect_refused, "") == "connection refused");
    // A detail that tells more is kept whole.
    CHECK(describe_http_failure(http_failure::connection_reset,
                                "sending the request header: Connection reset by peer") ==
          "connection reset or closed early (sending the request header: Connection reset by peer)");
    CHECK(describe_http_failure(http_failure::resolve_failed, "resolving nowhere.invalid: Host not found") ==
          "host name did not resolve (resolving nowhere.invalid: Host not found)");
}
