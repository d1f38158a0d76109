// The daemon's side servers (admin socket, /metrics) on real sockets: many connections at once,
// the per-connection limits (request size, read timeout) and the operator's identity from the
// kernel (SO_PEERCRED).
#include "admin/admin_server.hpp"
#include "metrics/metrics_http.hpp"
#include "temp_dir.hpp"

#include <boost/asio/thread_pool.hpp>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

using namespace labsync::apps;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;

// A connected socket, closed on scope exit.
struct client {
    int fd = -1;
    explicit client(int f) : fd(f) {}
    client(client&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    ~client() {
        if (fd >= 0) ::close(fd);
    }
};

client tcp_connect(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return client(fd);
}

client unix_connect(const std::filesystem::path& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return client(fd);
}

// Sends `request`, reads until the server closes (at most `limit`).
std::string exchange(const client& c, const std::string& request, std::chrono::milliseconds limit = 5s) {
    if (!request.empty())
        REQUIRE(::send(c.fd, request.data(), request.size(), MSG_NOSIGNAL) == ssize_t(request.size()));
    std::string out;
    auto deadline = clock_type::now() + limit;
    char buffer[4096];
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
        pollfd p{c.fd, POLLIN, 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return out + "<timeout>";
        ssize_t n = ::read(c.fd, buffer, sizeof buffer);
        if (n <= 0) return out;
        out.append(buffer, static_cast<std::size_t>(n));
    }
}

}  // namespace

TEST_CASE("metrics: five idle connections do not hold up a scrape", "[metrics]") {
    boost::asio::thread_pool handlers(2);
    metrics_http server([] { return std::string("labsync_up 1\n"); }, {}, handlers);
    REQUIRE(server.open("127.0.0.1:0").empty());
    server.start();
    std::vector<client> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(tcp_connect(server.port()));
    auto begin = clock_type::now();
    auto response = exchange(tcp_connect(server.port()), "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    auto took = clock_type::now() - begin;
    CHECK(response.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(response.find("\r\n\r\nlabsync_up 1\n") != std::string::npos);
    CHECK(took < 1s);  // one connection at a time took 2 s per idle connection: 10 s
    // The idle ones are closed after the 2 s head timeout, without a response.
    CHECK(exchange(idle.front(), "", 5s).empty());
    server.stop();
}

TEST_CASE("metrics: a request head over the cap is closed unanswered and stop closes open connections",
          "[metrics]") {
    boost::asio::thread_pool handlers(1);
    side_limits limits = metrics_http::scrape_limits;
    limits.max_request = 64;
    metrics_http server([] { return std::string("x 1\n"); }, {}, handlers, limits);
    REQUIRE(server.open("127.0.0.1:0").empty());
    server.start();
    CHECK(exchange(tcp_connect(server.port()), "GET /metrics HTTP/1.1\r\nX-Long: " + std::string(100, 'a'))
              .empty());
    CHECK(exchange(tcp_connect(server.port()), "GET /healthz HTTP/1.1\r\n\r\n").find("\r\n\r\nok\n") !=
          std::string::npos);
    auto idle = tcp_connect(server.port());
    auto begin = clock_type::now();
    server.stop();
    CHECK(clock_type::now() - begin < 1s);
    CHECK(exchange(idle, "", 1s).empty());  // closed by stop, not by the 2 s timeout
}

TEST_CASE("admin socket: five idle connections do not hold up a request and the peer is the kernel's",
          "[admin]") {
    labsync::test::temp_dir dir;
    boost::asio::thread_pool handlers(2);
    admin_peer seen;
    admin_server server(
        [&](const admin_request&, const admin_peer& peer) {
            seen = peer;
            return admin_response{};
        },
        {}, handlers);
    auto path = dir / "syncd.sock";
    REQUIRE(server.open(path, 0600, "").empty());
    server.start();
    std::vector<client> idle;
    for (int i = 0; i < 5; ++i) idle.push_back(unix_connect(path));
    auto begin = clock_type::now();
    std::string why;
    auto response = admin_call(path, admin_request{.op = admin_op::status}, why, 5'000);
    auto took = clock_type::now() - begin;
    REQUIRE(response);
    CHECK(response->ok);
    CHECK(took < 1s);  // one connection at a time took 5 s per idle connection: 25 s
    CHECK(seen.uid == ::getuid());
    CHECK(seen.pid == ::getpid());
    CHECK(seen.user == user_name_of(::getuid()));
    server.stop();
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("admin socket: an over-long request line and a silent client get bad_request", "[admin]") {
    labsync::test::temp_dir dir;
    boost::asio::thread_pool handlers(1);
    side_limits limits = admin_server::request_limits;
    limits.read_timeout = 1s;
    limits.max_request = 64;
    int calls = 0;
    admin_server server(
        [&](const admin_request&, const admin_peer&) {
            ++calls;
            return admin_response{};
        },
        {}, handlers, limits);
    auto path = dir / "syncd.sock";
    REQUIRE(server.open(path, 0600, "").empty());
    server.start();
    auto long_line = exchange(unix_connect(path), std::string(100, 'x'));
    CHECK(long_line.find("bad_request") != std::string::npos);
    CHECK(long_line.find("longer than 64 bytes") != std::string::npos);
    auto begin = clock_type::now();
    auto silent = exchange(unix_connect(path), "");
    CHECK(silent.find("no complete request line within 1 s") != std::string::npos);
    CHECK(clock_type::now() - begin >= 900ms);
    CHECK(calls == 0);
    server.stop();
}
