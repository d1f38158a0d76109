// The /metrics listener; see metrics_http.hpp.
#include "metrics_http.hpp"

#include "accept_loop.hpp"

#include "daemon_config.hpp"

#include <fmt/format.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace labsync::apps {

metrics_http::metrics_http(render_fn render, engine::log_fn log)
    : render_(std::move(render)), log_(std::move(log)) {}

metrics_http::~metrics_http() {
    stop();
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
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
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
        port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                                  : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
        listen_fd_ = fd;
        break;
    }
    ::freeaddrinfo(res);
    if (listen_fd_ < 0) return fmt::format("metrics_listen {}: cannot listen: {}", listen, error);
    host_ = hp->host;
    if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) return fmt::format("metrics: pipe: {}", std::strerror(errno));
    return {};
}

std::string metrics_http::bound_address() const {
    return host_.find(':') != std::string::npos ? fmt::format("[{}]:{}", host_, port_)
                                                : fmt::format("{}:{}", host_, port_);
}

void metrics_http::start() {
    if (listen_fd_ >= 0) thread_ = std::thread([this] { serve(); });
}

void metrics_http::stop() {
    wake_accept_loop(wake_pipe_[1]);
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
    for (int& fd : wake_pipe_)
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
}

void metrics_http::serve() {
    accept_until_woken(listen_fd_, wake_pipe_[0], [this](int client) { handle_connection(client); });
}

void metrics_http::handle_connection(int fd) {
    std::string head;
    char buffer[2048];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return;
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) return;
        head.append(buffer, static_cast<std::size_t>(n));
    }
    std::string_view first(head);
    first = first.substr(0, first.find("\r\n"));
    int status = 200;
    std::string body, type = "text/plain; charset=utf-8";
    std::string_view method = first.substr(0, first.find(' '));
    std::string_view rest = first.substr(std::min(first.size(), method.size() + 1));
    std::string_view target = rest.substr(0, rest.find(' '));
    if (method != "GET" && method != "HEAD") {
        status = 405;
        body = "only GET\n";
    } else if (target == "/metrics") {
        body = render_();
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else if (target == "/healthz") {
        body = "ok\n";
    } else {
        status = 404;
        body = "not found (try /metrics)\n";
    }
    const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Method Not Allowed";
    std::string response =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    status, reason, type, body.size());
    if (method != "HEAD") response += body;
    std::string_view data(response);
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

}  // namespace labsync::apps
