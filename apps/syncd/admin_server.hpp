#pragma once
// The admin socket's server side: a unix stream socket (mode and group from the config) served by
// one thread with poll(). One request line, one response line per connection. The handler runs on
// that thread and calls the engine's thread-safe API; it never blocks the engine's I/O thread.

#include "admin_protocol.hpp"
#include "labsync/common/log.hpp"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <thread>

namespace labsync::apps {

// Who is on the other end of an admin connection, from the kernel (SO_PEERCRED), not from the
// request: what the daemon records as the operator of override / retry / cancel.
struct admin_peer {
    uid_t uid = 0;
    pid_t pid = 0;
    std::string user;  // the uid's login name, or "uid:N" when it has none
};

// getpwuid_r's name for `uid`, or "uid:N".
std::string user_name_of(uid_t uid);

class admin_server {
public:
    using handler = std::function<admin_response(const admin_request&, const admin_peer&)>;

    admin_server(handler on_request, common::log_fn log);
    ~admin_server();  // stop()s
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    // Binds the socket (replacing a stale one left by a crash, refusing one a live daemon still
    // answers on), applies mode and group. Returns an operator-facing error, empty on success.
    std::string open(const std::filesystem::path& path, unsigned mode, const std::string& group);
    void start();
    // Stops the thread and removes the socket file. Idempotent.
    void stop();

private:
    void serve();
    void handle_connection(int fd);

    handler on_request_;
    common::log_fn log_;
    std::filesystem::path path_;
    int listen_fd_ = -1;
    int wake_pipe_[2] = {-1, -1};
    std::thread thread_;
};

// Client side: sends one request, returns the response (or nullopt with `why` set: the daemon is
// not running, permission denied, timeout, ...).
std::optional<admin_response> admin_call(const std::filesystem::path& socket, const admin_request& request,
                                         std::string& why, int timeout_ms = 120'000);

}  // namespace labsync::apps
