// See notify_listener.hpp.
#include "notify_listener.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cstring>
#include <stdexcept>

namespace labsync::test {

notify_listener::notify_listener(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::pipe2(wake_, O_CLOEXEC) != 0)
        throw std::runtime_error("notify_listener: cannot bind " + path_.string());
    thread_ = std::thread([this] { receive(); });
}

notify_listener::~notify_listener() {
    char c = 'x';
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
    thread_.join();
    ::close(fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
    ::unlink(path_.c_str());
}

void notify_listener::receive() {
    char buffer[4096];
    while (true) {
        pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return;
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) continue;
        std::lock_guard lock(mutex_);
        messages_.push_back(
            {std::chrono::steady_clock::now(), std::string(buffer, static_cast<std::size_t>(n))});
        changed_.notify_all();
    }
}

std::vector<notify_message> notify_listener::messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
}

std::size_t notify_listener::count(const std::string& needle) const {
    std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const auto& m : messages_) n += m.text.find(needle) != std::string::npos ? 1 : 0;
    return n;
}

std::optional<notify_message> notify_listener::wait_for(const std::string& needle,
                                                        std::chrono::milliseconds timeout,
                                                        std::chrono::steady_clock::time_point from) {
    std::unique_lock lock(mutex_);
    std::optional<notify_message> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& m : messages_)
            if (m.at >= from && m.text.find(needle) != std::string::npos) {
                found = m;
                return true;
            }
        return false;
    });
    return found;
}

}  // namespace labsync::test
