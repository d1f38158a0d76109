#pragma once
// A real `syncd-receiver` for integration tests: test certificates made with the `openssl` CLI
// (CA, server cert for 127.0.0.1/localhost, a client cert whose CN is an equipment name, an
// expired client cert, a client cert from a foreign CA), a tokens file, a temporary store, the
// process started on 127.0.0.1:0 (port parsed from its `listening on` line) and stopped by PID
// with SIGTERM when the fixture dies.
//
//   labsync::test::receiver_fixture rx({.tls = true}, LABSYNC_RECEIVER);
//   curl --cacert rx.pki().ca_cert -H "Authorization: Bearer " + rx.token() ... rx.url() + "/v1/..."

#include "process.hpp"
#include "temp_dir.hpp"

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace labsync::test {

struct test_pki {
    std::filesystem::path ca_cert;                    // signs server and client certs
    std::filesystem::path server_cert, server_key;    // SAN IP:127.0.0.1, DNS:localhost
    std::filesystem::path client_cert, client_key;    // CN = the equipment given to make_test_pki
    std::filesystem::path expired_cert, expired_key;  // same CA and CN, valid 2020-01-01..02
    std::filesystem::path foreign_cert, foreign_key;  // same CN, signed by another CA
    std::filesystem::path foreign_ca_cert;
};

// Generates the certificates into `dir` (about half a second). Throws std::runtime_error with
// openssl's stderr on failure.
test_pki make_test_pki(const std::filesystem::path& dir, const std::string& client_equipment = "eq1");

struct receiver_options {
    bool tls = false;                  // serve HTTPS with the test server cert (and --client-ca)
    bool require_client_cert = false;  // --require-client-cert (implies tls)
    // Lines of the tokens file: {token, equipment pattern}. Empty: no --tokens at all (then
    // insecure_no_auth or require_client_cert must be set, or the receiver refuses to start).
    std::vector<std::pair<std::string, std::string>> tokens = default_tokens();
    bool insecure_no_auth = false;
    std::optional<std::vector<std::string>> allowed_commits = std::nullopt;  // --allowed-commits lines
    bool member_check = true;                                                // false: --no-member-check
    std::optional<std::filesystem::path> store = std::nullopt;               // default: <temp>/store
    std::vector<std::string> extra_args = {};                                // e.g. {"--max-body", "1M"}
    std::string client_equipment = "eq1";                                    // CN of the client certificates

    static std::vector<std::pair<std::string, std::string>> default_tokens() {
        return {{eq1_token, "eq1"}, {lab_token, "lab-*"}, {admin_token, "*"}};
    }
    static constexpr const char* eq1_token = "tok-eq1-0123456789abcdef";      // grants eq1
    static constexpr const char* lab_token = "tok-lab-0123456789abcdef";      // grants lab-*
    static constexpr const char* admin_token = "tok-admin-0123456789abcdef";  // grants *
};

class receiver_fixture {
public:
    // `receiver_binary`: pass LABSYNC_RECEIVER. Waits for the `listening on` line; throws
    // std::runtime_error with the receiver's stderr when it does not come.
    explicit receiver_fixture(receiver_options options = {}, std::string receiver_binary = default_binary());
    ~receiver_fixture();  // SIGTERM by PID, then waits (SIGKILL after 10 s)
    receiver_fixture(const receiver_fixture&) = delete;
    receiver_fixture& operator=(const receiver_fixture&) = delete;

    int port() const noexcept { return port_; }
    std::string host() const { return "127.0.0.1"; }
    // "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT" (no trailing slash)
    std::string url() const;
    std::string run_url(const std::string& equipment, const std::string& run) const;
    const std::filesystem::path& store() const noexcept { return store_; }
    const test_pki& pki() const;  // generated when tls (throws otherwise)
    const std::filesystem::path& dir() const noexcept { return temp_.path(); }  // fixture temp dir
    std::string token() const { return receiver_options::eq1_token; }
    std::filesystem::path tokens_file() const { return temp_.path() / "tokens"; }
    child_process& process() noexcept { return *process_; }
    std::string stderr_text() const { return process_->stderr_text(); }

    // SIGTERM and wait; returns how it ended (nullopt if it had to be killed).
    std::optional<run_result> stop(std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // LABSYNC_RECEIVER of the including test (inline so the test's compile definition applies).
    static std::string default_binary() {
#ifdef LABSYNC_RECEIVER
        return LABSYNC_RECEIVER;
#else
        return "syncd-receiver";
#endif
    }

private:
    temp_dir temp_;
    std::filesystem::path store_;
    std::optional<test_pki> pki_;
    bool tls_ = false;
    int port_ = 0;
    bool stopped_ = false;
    std::unique_ptr<child_process> process_;
};

}  // namespace labsync::test
