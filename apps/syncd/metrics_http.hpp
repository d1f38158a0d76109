#pragma once
// A tiny HTTP/1.1 listener for Prometheus scrapes: GET /metrics (text format 0.0.4) and
// GET /healthz. One thread, poll(), one request per connection, 2 s to send the request head.
// Plain sockets on purpose: it serves a few scrapes a minute on localhost and keeps the daemon
// free of another Beast translation unit.

#include "labsync/common/log.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace labsync::apps {

class metrics_http {
public:
    using render_fn = std::function<std::string()>;

    metrics_http(render_fn render, common::log_fn log);
    ~metrics_http();
    metrics_http(const metrics_http&) = delete;
    metrics_http& operator=(const metrics_http&) = delete;

    // Binds HOST:PORT (PORT 0: any free port). Returns an error text, empty on success.
    std::string open(const std::string& listen);
    std::uint16_t port() const noexcept { return port_; }
    std::string bound_address() const;  // "127.0.0.1:9101"
    void start();
    void stop();

private:
    void serve();
    void handle_connection(int fd);

    render_fn render_;
    common::log_fn log_;
    std::string host_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1;
    int wake_pipe_[2] = {-1, -1};
    std::thread thread_;
};

}  // namespace labsync::apps
