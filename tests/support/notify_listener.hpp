#pragma once
// A stand-in for systemd's notification socket: a unix datagram socket the test passes to syncd as
// NOTIFY_SOCKET; every datagram (READY=1, STATUS=..., WATCHDOG=1, ...) is recorded with its time.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace labsync::test {

struct notify_message {
    std::chrono::steady_clock::time_point at;
    std::string text;
};

class notify_listener {
public:
    explicit notify_listener(std::filesystem::path path);
    ~notify_listener();
    notify_listener(const notify_listener&) = delete;
    notify_listener& operator=(const notify_listener&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::vector<notify_message> messages() const;
    // Waits until a message (received at or after `from`) contains `needle`; returns it.
    std::optional<notify_message> wait_for(const std::string& needle, std::chrono::milliseconds timeout,
                                           std::chrono::steady_clock::time_point from = {});
    std::size_t count(const std::string& needle) const;

private:
    void receive();

    std::filesystem::path path_;
    int fd_ = -1;
    int wake_[2] = {-1, -1};
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<notify_message> messages_;
    std::thread thread_;
};

}  // namespace labsync::test
