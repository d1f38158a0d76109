#pragma once
// A tiny HTTP/1.1 listener for Prometheus scrapes: GET /metrics (text format 0.0.4) and
// GET /healthz; with serve_status_page(), also the status page: GET / (HTML) and GET /status.json
// (metrics/status_page.hpp). Asio on its own thread, many connections at once (daemon/side_io.hpp), one
// request per connection: the request head (at most 8 KiB) within 2 s. render() runs on the daemon's handler
// pool. The head is parsed by hand: it serves a few scrapes a minute and keeps the daemon free of another
// Beast translation unit.

#include "daemon/side_limits.hpp"
#include "labsync/common/log.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace boost::asio {
class thread_pool;
}  // namespace boost::asio

namespace labsync::apps {

class metrics_http {
public:
    using render_fn = std::function<std::string()>;
    // The status page's data (status_page_json).
    using status_fn = std::function<nlohmann::json()>;

    // The limits of a scrape: the head within 2 s, at most 8 KiB.
    static constexpr side_limits scrape_limits{.read_timeout = std::chrono::milliseconds(2'000),
                                               .write_timeout = std::chrono::milliseconds(30'000),
                                               .max_request = 8192,
                                               .max_connections = 64};

    // `handlers` runs render (it reads the job store); it must outlive the server.
    metrics_http(render_fn render, common::log_fn log, boost::asio::thread_pool& handlers,
                 side_limits limits = scrape_limits);
    ~metrics_http();
    metrics_http(const metrics_http&) = delete;
    metrics_http& operator=(const metrics_http&) = delete;

    // Binds HOST:PORT (PORT 0: any free port). Returns an error text, empty on success.
    std::string open(const std::string& listen);
    std::uint16_t port() const noexcept;
    std::string bound_address() const;  // "127.0.0.1:9101"
    // Serves GET / and GET /status.json from `status` (on the handler pool). Before start().
    void serve_status_page(status_fn status);
    void start();
    // Closes the listener and every connection; waits for a render in flight. Idempotent.
    void stop();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

// The response to one request head ("GET /metrics HTTP/1.1\r\n..."): /metrics, /healthz, and
// when `status` is set / and /status.json (a query string is ignored); else 404, or 405 for a
// method other than GET and HEAD. render() is called only for /metrics, status() only for the page.
std::string metrics_response(std::string_view head, const metrics_http::render_fn& render,
                             const metrics_http::status_fn& status = {});

}  // namespace labsync::apps
