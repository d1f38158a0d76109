#pragma once
// Small clients for the receiver tests: curl as a real process, and raw sockets for requests no
// well-behaved client would send.

#include "receiver_fixture.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labsync::test {

struct http_reply {
    int status = 0;  // 0: no HTTP response (connection or TLS failure)
    int curl_exit = 0;
    std::string body;
    std::string err;
};

// curl -sS <args> URL, capturing status and body.
http_reply curl(const std::string& url, const std::vector<std::string>& args);

// PUT `file` to the run with its (or the given) sha and the fixture's eq1 token (TLS: its CA).
http_reply curl_put(const receiver_fixture& rx, const std::string& equipment, const std::string& run,
                    const std::filesystem::path& file, std::optional<std::string> sha = std::nullopt,
                    std::vector<std::string> extra = {});
std::vector<std::string> tls_args(const receiver_fixture& rx);  // --cacert …
std::vector<std::string> auth_args(const std::string& token);

std::string sha256_of_file(const std::filesystem::path& file);
// Writes `size` pseudo-random bytes (seeded) and returns the path.
std::filesystem::path make_blob(const std::filesystem::path& path, std::size_t size, unsigned seed = 1);

// A tar+zstd run archive as `syncd pack` makes it (ustar members, `.labsync/manifest.sha256`
// last), built with tar and zstd. `wrong_manifest`: the manifest's first digest is altered so the
// archive is well-formed but a member no longer matches.
std::filesystem::path make_run_archive(const std::filesystem::path& dir, bool wrong_manifest = false,
                                       std::size_t size = 300000);

// Options for tests that PUT random blobs: the archive member check off.
receiver_options blob_options();

// A blocking TCP client on 127.0.0.1.
class raw_conn {
public:
    explicit raw_conn(int port);
    ~raw_conn();
    raw_conn(const raw_conn&) = delete;
    raw_conn& operator=(const raw_conn&) = delete;

    bool send(const std::string& data);  // false when the peer is gone
    // Reads until `needle` appears, EOF or timeout; returns all read so far.
    std::string read_until(const std::string& needle,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Reads until EOF or timeout; true on EOF/reset (the server closed).
    bool wait_closed(std::chrono::milliseconds timeout);
    void close();

private:
    int fd_ = -1;
    std::string in_;
};

// Sends `request` on a new connection and returns the status of the first response
// (0 if none before the server closed or the timeout).
int raw_status(int port, const std::string& request, std::string* response = nullptr);

// A kB figure of /proc/PID/status, e.g. "VmHWM" (peak RSS) or "VmRSS"; -1 when absent.
long proc_status_kb(int pid, const std::string& key);

// Polls `pred` every 10 ms up to `timeout` (for effects that have no event to wait on, such as
// a log line of another process).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// Files under the store except sidecars/data of `keep` runs: used to assert "nothing left".
std::vector<std::string> store_files(const std::filesystem::path& store);

}  // namespace labsync::test

#include <thread>

template <class Pred>
bool labsync::test::eventually(Pred pred, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}
