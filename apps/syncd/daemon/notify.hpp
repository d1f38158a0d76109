#pragma once
// systemd notification (sd_notify) without ever blocking the daemon: sd_notify sends one datagram
// on NOTIFY_SOCKET with MSG_DONTWAIT; when NOTIFY_SOCKET is unset every call is a no-op.

#include <chrono>
#include <optional>
#include <string>

namespace labsync::apps {

class systemd_notifier {
public:
    systemd_notifier();

    bool enabled() const noexcept { return enabled_; }
    // WATCHDOG_USEC for this process, when systemd asked for pings.
    std::optional<std::chrono::microseconds> watchdog_interval() const noexcept { return watchdog_; }

    void ready(const std::string& status);
    void status(const std::string& status);
    void watchdog();
    void reloading();
    void reloaded(const std::string& status);
    void stopping(const std::string& status);

private:
    void send(const std::string& text);
    bool enabled_ = false;
    std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace labsync::apps
