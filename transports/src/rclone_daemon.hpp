// One long-lived `rclone rcd` per rclone driver, and the HTTP calls to its remote control.
// Private to transports/src (rclone.cpp).
//
// The daemon is started lazily by the first call, on a free loopback port (the port rclone
// announces on stderr) with random credentials passed in its environment. Its process and the
// wait for its announcement live on a private thread (its own io_context), so the executors of
// the callers never hold the daemon as pending work; the calls themselves run on the caller's
// executor (a fresh loopback connection each, HTTP basic auth). A daemon that died is noticed
// (its exit, or a refused connection) and the next call starts a new one. A daemon that served
// no call for `daemon_idle` (60 s) is stopped (the next call starts a new one). The destructor stops it by
// PID (its process group) and reaps it.
#pragma once

#include "labsync/transports/rclone_config.hpp"
#include "labsync/transports/transport_result.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace labsync::transports::detail {

// Random lowercase hex of `bytes` random bytes (credentials, stats group names).
std::string random_hex(std::size_t bytes);

struct rc_answer {
    transport_result status;  // not ok: no answer (the daemon could not start or be reached)
    bool timed_out = false;   // no answer within the call's timeout
    int http_status = 0;      // 200 = success; else `body` holds rclone's {"error": …}
    std::string body;
};

class rclone_daemon {
public:
    explicit rclone_daemon(const rclone_config& config);
    ~rclone_daemon();
    rclone_daemon(const rclone_daemon&) = delete;
    rclone_daemon& operator=(const rclone_daemon&) = delete;

    // POSTs `body` to `method` (e.g. "operations/list"), starting the daemon when none runs.
    // A call that got no answer at all (refused, or reset before any answer: the daemon died)
    // stops that daemon, starts a new one and is sent once more.
    boost::asio::awaitable<rc_answer> call(std::string method, std::string body, const std::string& equipment,
                                           std::chrono::milliseconds timeout);
    // The same without waiting for the answer, run on the daemon's thread (stopping a transfer
    // whose caller was cancelled). Does not start a daemon.
    void call_detached(std::string method, std::string body);

private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace labsync::transports::detail
