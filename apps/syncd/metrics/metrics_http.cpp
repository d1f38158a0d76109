// The /metrics listener; see metrics_http.hpp.
#include "metrics/metrics_http.hpp"

#include "metrics/status_page.hpp"

#include "daemon/side_io.hpp"
#include "daemon_config.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace labsync::apps {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct metrics_http::impl {
    impl(render_fn render, common::log_fn log, asio::thread_pool& handlers, side_limits limits)
        : render(std::move(render)),
          log(std::move(log)),
          handlers(handlers),
          limits(limits),
          live(limits.max_connections) {}

    asio::awaitable<void> serve(tcp::socket socket);

    render_fn render;
    status_fn status;
    common::log_fn log;
    asio::thread_pool& handlers;
    side_limits limits;
    side_io::loop loop;
    tcp::acceptor acceptor{loop.io()};
    side_io::connections<tcp::socket> live;
    std::string host;
    std::uint16_t port = 0;
};

metrics_http::metrics_http(render_fn render, common::log_fn log, asio::thread_pool& handlers,
                           side_limits limits)
    : impl_(std::make_unique<impl>(std::move(render), std::move(log), handlers, limits)) {}

metrics_http::~metrics_http() {
    stop();
}

std::uint16_t metrics_http::port() const noexcept {
    return impl_->port;
}

std::string metrics_http::open(const std::string& listen) {
    std::string why;
    auto hp = parse_host_port(listen, why);
    if (!hp) return "metrics_listen: " + why;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string port_text = std::to_string(hp->port);
    if (int rc = ::getaddrinfo(hp->host.c_str(), port_text.c_str(), &hints, &res); rc != 0)
        return fmt::format("metrics_listen {}: {}", listen, ::gai_strerror(rc));
    std::string error;
    for (addrinfo* ai = res; ai && !impl_->acceptor.is_open(); ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 16) != 0) {
            error = std::strerror(errno);
            ::close(fd);
            continue;
        }
        sockaddr_storage bound{};
        socklen_t len = sizeof bound;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
        bool v6 = bound.ss_family == AF_INET6;
        impl_->port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                               : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
        boost::system::error_code ec;
        impl_->acceptor.assign(v6 ? tcp::v6() : tcp::v4(), fd, ec);
        if (ec) {
            error = ec.message();
            ::close(fd);
        }
    }
    ::freeaddrinfo(res);
    if (!impl_->acceptor.is_open()) return fmt::format("metrics_listen {}: cannot listen: {}", listen, error);
    impl_->host = hp->host;
    return {};
}

std::string metrics_http::bound_address() const {
    const auto& m = *impl_;
    return m.host.find(':') != std::string::npos ? fmt::format("[{}]:{}", m.host, m.port)
                                                 : fmt::format("{}:{}", m.host, m.port);
}

void metrics_http::serve_status_page(status_fn status) {
    impl_->status = std::move(status);
}

void metrics_http::start() {
    auto& m = *impl_;
    if (!m.acceptor.is_open()) return;
    asio::co_spawn(
        m.loop.io(),
        side_io::accept_loop(
            m.acceptor, m.live, [&m](tcp::socket s) { return m.serve(std::move(s)); }, m.log, "metrics"),
        asio::detached);
    m.loop.start();
}

void metrics_http::stop() {
    auto& m = *impl_;
    m.loop.stop([&m] {
        boost::system::error_code ignored;
        m.acceptor.close(ignored);
        m.live.close_all();
    });
}

asio::awaitable<void> metrics_http::impl::serve(tcp::socket socket) {
    auto held = live.hold(socket);
    if (!acceptor.is_open()) co_return;  // accepted just before stop() closed everything
    std::string head;
    auto read = co_await side_io::within(
        asio::async_read_until(socket, asio::dynamic_buffer(head, limits.max_request), "\r\n\r\n",
                               side_io::use_tuple),
        limits.read_timeout);
    if (!read || std::get<0>(*read)) co_return;  // no complete head in time, or too long: just close
    // Named (see common/on_pool.hpp about GCC 12 and co_await temporaries).
    const asio::any_io_executor pool = handlers.get_executor();
    auto respond = [this, &head] { return metrics_response(head, render, status); };
    std::string response = co_await common::on_pool(pool, respond);
    co_await side_io::within(asio::async_write(socket, asio::buffer(response), side_io::use_tuple),
                             limits.write_timeout);
}

std::string metrics_response(std::string_view head, const metrics_http::render_fn& render,
                             const metrics_http::status_fn& status) {
    std::string_view first = head.substr(0, head.find("\r\n"));
    int code = 200;
    std::string body, type = "text/plain; charset=utf-8";
    std::string_view method = first.substr(0, first.find(' '));
    std::string_view rest = first.substr(std::min(first.size(), method.size() + 1));
    std::string_view target = rest.substr(0, rest.find(' '));
    target = target.substr(0, target.find('?'));  // the page asks for status.json?…, caches aside
    std::string headers;
    if (method != "GET" && method != "HEAD") {
        code = 405;
        body = "only GET\n";
    } else if (target == "/metrics") {
        body = render();
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (target == "/healthz") {
        body = "ok\n";
    } else if (status && (target == "/" || target == "/status.json")) {
        const nlohmann::json data = status();
        if (target == "/") {
            body = render_status_page(data);
            type = "text/html; charset=utf-8";
        } else {
            body = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
            type = "application/json";
        }
        // The page loads nothing from elsewhere; the policy makes sure it cannot.
        headers =
            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
            "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'\r\n";
    } else {
        code = 404;
        body = status ? "not found (try / or /metrics)\n" : "not found (try /metrics)\n";
    }
    const char* reason = code == 200 ? "OK" : code == 404 ? "Not Found" : "Method Not Allowed";
    std::string response =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
                    code, reason, type, body.size(), headers);
    if (method != "HEAD") response += body;
    return response;
}

}  // namespace labsync::apps
