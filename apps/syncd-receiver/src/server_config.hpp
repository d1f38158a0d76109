#pragma once
// Everything the receiver needs to run, gathered from the command line and --config (main.cpp).

#include "labsync/receiver/commit_allowlist.hpp"
#include "labsync/receiver/token_file.hpp"
#include "labsync/verifier/check_budget.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace labsync::receiver {

struct server_config {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::filesystem::path store;
    std::optional<std::filesystem::path> tls_cert;
    std::optional<std::filesystem::path> tls_key;
    std::optional<std::filesystem::path> client_ca;
    bool require_client_cert = false;
    std::optional<token_file> tokens;
    std::optional<commit_allowlist> allowed_commits;
    bool insecure_no_auth = false;
    bool member_check = true;
    // 1: the member check runs on the pool thread feeding it; 2: that thread decompresses, a thread
    // of the checker's own walks the tar and hashes; 3-9: the pool thread only finds the zstd frames,
    // check_threads - 1 threads of the checker decode them in parallel, one more walks and hashes.
    std::size_t check_threads = 2;
    // Shared by every upload's checker for decoding frames ahead (--check-memory); null: none.
    std::shared_ptr<verifier::check_budget> check_budget;
    std::uint64_t max_body = 64ULL << 30;
    std::uint64_t min_free = 0;
    std::chrono::seconds upload_expiry{7 * 24 * 3600};  // resumable uploads untouched this long are removed
    std::chrono::milliseconds header_timeout{30'000};
    std::chrono::milliseconds body_timeout{60'000};
    std::uint64_t min_body_rate = 1024;  // bytes/s over each body_timeout window; 0: off
    std::chrono::milliseconds shutdown_grace{30'000};
    std::size_t max_connections = 256;
    std::size_t io_threads = 2;
    std::size_t disk_threads = 4;
    std::vector<std::string> startup_warnings;  // logged at warning level once the log exists
};

// Verify requests (GET ?verify=1) re-hashing at once: half the disk threads, at least one, so
// uploads keep the other half; further verify requests wait for a slot.
constexpr std::size_t verify_concurrency(std::size_t disk_threads) noexcept {
    return disk_threads / 2 > 0 ? disk_threads / 2 : 1;
}

// Runs until SIGTERM/SIGINT; prints `listening on HOST:PORT` to stdout once bound. Returns the
// process exit code (0 after a clean shutdown).
int run_server(const server_config& config);

}  // namespace labsync::receiver
