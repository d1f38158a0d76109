// See watchdog_gate.hpp.
#include "daemon/watchdog_gate.hpp"

namespace labsync::apps {

void watchdog_gate::on_activity(bool active, clock::time_point now) {
    if (active && !active_) last_progress_ = now;  // idle time is not a stall
    active_ = active;
}

std::optional<std::chrono::milliseconds> watchdog_gate::stalled_for(clock::time_point now) const {
    if (!active_) return std::nullopt;
    auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(now - last_progress_);
    if (quiet <= stall_) return std::nullopt;
    return quiet;
}

}  // namespace labsync::apps
