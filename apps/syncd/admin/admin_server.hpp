#pragma once
// The admin socket's server side: a unix stream socket (mode and group from the config) served on
// Asio by its own thread, many connections at once (daemon/side_io.hpp). One request line (at most
// admin_max_line bytes, within 5 s), one response line per connection. The handler runs
// on the daemon's handler pool and calls the engine's thread-safe API; it never blocks the
// engine's I/O thread, nor the other admin connections.

#include "admin/admin_protocol.hpp"
#include "daemon/side_limits.hpp"
#include "labsync/common/log.hpp"

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace boost::asio {
class thread_pool;
}  // namespace boost::asio

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

    // The limits of a connection: one request line of at most admin_max_line bytes within 5 s.
    static constexpr side_limits request_limits{.read_timeout = std::chrono::milliseconds(5'000),
                                                .write_timeout = std::chrono::milliseconds(30'000),
                                                .max_request = admin_max_line,
                                                .max_connections = 64};

    // `handlers` runs on_request (it may block on the engine); it must outlive the server.
    admin_server(handler on_request, common::log_fn log, boost::asio::thread_pool& handlers,
                 side_limits limits = request_limits);
    ~admin_server();  // stop()s
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    // Binds the socket (replacing a stale one left by a crash, refusing one a live daemon still
    // answers on), applies mode and group. Returns an operator-facing error, empty on success.
    std::string open(const std::filesystem::path& path, unsigned mode, const std::string& group);
    void start();
    // Closes the socket and every connection, waits for requests in flight, removes the socket
    // file. Idempotent.
    void stop();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

// Client side: sends one request, returns the response (or nullopt with `why` set: the daemon is
// not running, permission denied, timeout, ...).
std::optional<admin_response> admin_call(const std::filesystem::path& socket, const admin_request& request,
                                         std::string& why, int timeout_ms = 120'000);

}  // namespace labsync::apps
