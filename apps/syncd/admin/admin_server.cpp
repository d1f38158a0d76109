// Admin socket server and client; see admin_server.hpp.
#include "admin/admin_server.hpp"

#include "daemon/side_io.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

namespace labsync::apps {
namespace {

namespace fs = std::filesystem;

bool fill_address(const fs::path& path, sockaddr_un& addr) {
    std::memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    const std::string& s = path.native();
    if (s.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
    return true;
}

// Reads up to the first newline within `timeout_ms` in total.
bool read_line(int fd, std::string& line, int timeout_ms, std::size_t max) {
    char buffer[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (true) {
        auto nl = line.find('\n');
        if (nl != std::string::npos) {
            line.resize(nl);
            return true;
        }
        if (line.size() > max) return false;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        int r = ::poll(&p, 1, static_cast<int>(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        line.append(buffer, static_cast<std::size_t>(n));
    }
}

bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// The connecting process's credentials as the kernel recorded them at connect().
std::optional<admin_peer> peer_of(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
        return std::nullopt;
    return admin_peer{cred.uid, cred.pid, user_name_of(cred.uid)};
}

}  // namespace

std::string user_name_of(uid_t uid) {
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buffer(size > 0 ? static_cast<std::size_t>(size) : 16384);
    passwd pw{};
    passwd* found = nullptr;
    while (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == ERANGE &&
           buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    if (found && found->pw_name && *found->pw_name) return found->pw_name;
    return fmt::format("uid:{}", uid);
}

struct admin_server::impl {
    using protocol = boost::asio::local::stream_protocol;

    impl(handler on_request, common::log_fn log, boost::asio::thread_pool& handlers, side_limits limits)
        : on_request(std::move(on_request)),
          log(std::move(log)),
          handlers(handlers),
          limits(limits),
          live(limits.max_connections) {}

    boost::asio::awaitable<void> serve(protocol::socket socket);
    admin_response answer(const std::string& line, const admin_peer& peer);

    handler on_request;
    common::log_fn log;
    boost::asio::thread_pool& handlers;
    side_limits limits;
    side_io::loop loop;
    protocol::acceptor acceptor{loop.io()};
    side_io::connections<protocol::socket> live;
    fs::path path;
};

admin_server::admin_server(handler on_request, common::log_fn log, boost::asio::thread_pool& handlers,
                           side_limits limits)
    : impl_(std::make_unique<impl>(std::move(on_request), std::move(log), handlers, limits)) {}

admin_server::~admin_server() {
    stop();
}

std::string admin_server::open(const fs::path& path, unsigned mode, const std::string& group_name) {
    sockaddr_un addr;
    if (!fill_address(path, addr))
        return fmt::format("admin socket {}: path too long for a unix socket", path.string());
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return fmt::format(
                "admin socket {}: exists and is not a socket (remove it or change admin_socket)",
                path.string());
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        if (probe >= 0) ::close(probe);
        if (live)
            return fmt::format("admin socket {}: another syncd answers on it (is one already running?)",
                               path.string());
        ::unlink(path.c_str());  // stale: left by a crash
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fmt::format("admin socket: socket(): {}", std::strerror(errno));
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        return fmt::format("admin socket {}: bind: {}", path.string(), std::strerror(err));
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return fmt::format("admin socket {}: chmod {:o}: {}", path.string(), mode, std::strerror(err));
    }
    if (!group_name.empty()) {
        struct group* g = ::getgrnam(group_name.c_str());
        if (!g || ::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
            int err = errno;
            ::close(fd);
            ::unlink(path.c_str());
            return g ? fmt::format("admin socket {}: chgrp {}: {}", path.string(), group_name,
                                   std::strerror(err))
                     : fmt::format("admin socket {}: group \"{}\" does not exist (admin_socket_group)",
                                   path.string(), group_name);
        }
    }
    if (::listen(fd, 16) != 0) {
        int err = errno;
        ::close(fd);
        ::unlink(path.c_str());
        return fmt::format("admin socket {}: listen: {}", path.string(), std::strerror(err));
    }
    boost::system::error_code ec_assign;
    impl_->acceptor.assign(impl::protocol(), fd, ec_assign);
    if (ec_assign) {
        ::close(fd);
        ::unlink(path.c_str());
        return fmt::format("admin socket {}: {}", path.string(), ec_assign.message());
    }
    impl_->path = path;
    return {};
}

void admin_server::start() {
    if (!impl_->acceptor.is_open()) return;
    auto& m = *impl_;
    boost::asio::co_spawn(
        m.loop.io(),
        side_io::accept_loop(
            m.acceptor, m.live, [&m](impl::protocol::socket s) { return m.serve(std::move(s)); }, m.log,
            "admin socket"),
        boost::asio::detached);
    m.loop.start();
}

void admin_server::stop() {
    auto& m = *impl_;
    m.loop.stop([&m] {
        boost::system::error_code ignored;
        m.acceptor.close(ignored);
        m.live.close_all();
    });
    if (!m.path.empty()) {
        ::unlink(m.path.c_str());
        m.path.clear();
    }
}

boost::asio::awaitable<void> admin_server::impl::serve(protocol::socket socket) {
    auto held = live.hold(socket);
    if (!acceptor.is_open()) co_return;  // accepted just before stop() closed everything
    admin_response response;
    auto peer = peer_of(socket.native_handle());
    if (!peer) {
        response = admin_error(
            "internal",
            fmt::format("cannot identify the connecting user (SO_PEERCRED): {}", std::strerror(errno)));
    } else {
        std::string line;
        auto read = co_await side_io::within(
            boost::asio::async_read_until(socket, boost::asio::dynamic_buffer(line, limits.max_request + 1),
                                          '\n', side_io::use_tuple),
            limits.read_timeout);
        if (!read || std::get<0>(*read)) {
            response = admin_error("bad_request",
                                   read && std::get<0>(*read) == boost::asio::error::not_found
                                       ? fmt::format("request line longer than {} bytes", limits.max_request)
                                       : fmt::format("no complete request line within {} s",
                                                     limits.read_timeout.count() / 1000));
        } else {
            line.resize(std::get<1>(*read) - 1);
            // Named (see common/on_pool.hpp about GCC 12 and co_await temporaries).
            const boost::asio::any_io_executor pool = handlers.get_executor();
            auto ask = [this, &line, &peer] { return answer(line, *peer); };
            response = co_await common::on_pool(pool, ask);
        }
    }
    std::string out = encode_response(response) + "\n";
    co_await side_io::within(boost::asio::async_write(socket, boost::asio::buffer(out), side_io::use_tuple),
                             limits.write_timeout);
}

// On the handler pool: decodes the line and runs the handler.
admin_response admin_server::impl::answer(const std::string& line, const admin_peer& peer) {
    std::string why;
    auto request = decode_request(line, why);
    if (!request) return admin_error("bad_request", why);
    try {
        return on_request(*request, peer);
    } catch (const std::exception& e) {
        if (log) log(common::log_level::error, fmt::format("admin {}: {}", to_string(request->op), e.what()));
        return admin_error("internal", e.what());
    }
}

std::optional<admin_response> admin_call(const fs::path& socket, const admin_request& request,
                                         std::string& why, int timeout_ms) {
    sockaddr_un addr;
    if (!fill_address(socket, addr)) {
        why = fmt::format("{}: path too long for a unix socket", socket.string());
        return std::nullopt;
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        why = std::strerror(errno);
        return std::nullopt;
    }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        int err = errno;
        ::close(fd);
        why = err == ENOENT || err == ECONNREFUSED
                  ? fmt::format(
                        "cannot reach syncd at {}: {} (is the daemon running? see `systemctl status syncd`)",
                        socket.string(), std::strerror(err))
              : err == EACCES
                  ? fmt::format("cannot reach syncd at {}: permission denied (join the socket's group)",
                                socket.string())
                  : fmt::format("cannot reach syncd at {}: {}", socket.string(), std::strerror(err));
        return std::nullopt;
    }
    std::string line;
    bool ok = write_all(fd, encode_request(request) + "\n") && read_line(fd, line, timeout_ms, 64 << 20);
    ::close(fd);
    if (!ok) {
        why = fmt::format("syncd at {} did not answer within {} s", socket.string(), timeout_ms / 1000);
        return std::nullopt;
    }
    return decode_response(line, why);
}

}  // namespace labsync::apps
