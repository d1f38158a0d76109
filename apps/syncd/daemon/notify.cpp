// See notify.hpp.
#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace labsync::apps {

systemd_notifier::systemd_notifier() {
    enabled_ = std::getenv("NOTIFY_SOCKET") != nullptr;
    std::uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_ = std::chrono::microseconds(usec);
}

void systemd_notifier::send(const std::string& text) {
    if (enabled_) sd_notify(0, text.c_str());
}

void systemd_notifier::ready(const std::string& status) {
    send("READY=1\nSTATUS=" + status);
}
void systemd_notifier::status(const std::string& status) {
    send("STATUS=" + status);
}
void systemd_notifier::watchdog() {
    send("WATCHDOG=1");
}
void systemd_notifier::reloading() {
    send("RELOADING=1");
}
void systemd_notifier::reloaded(const std::string& status) {
    send("READY=1\nSTATUS=" + status);
}
void systemd_notifier::stopping(const std::string& status) {
    send("STOPPING=1\nSTATUS=" + status);
}

}  // namespace labsync::apps
