#pragma once
// Decides whether the daemon may send WATCHDOG=1 (systemd restarts it when the pings stop). The
// event loop being alive is not enough: a transport wedged on a socket that never answers keeps the
// loop alive but ships nothing. So: ping while nothing is active, or while active jobs (running or
// verifying) have moved - a progress report or a state change - within `stall`. Pure; the daemon
// feeds it from the engine's callbacks and asks it on each watchdog tick.

#include <chrono>
#include <optional>

namespace labsync::apps {

class watchdog_gate {
public:
    using clock = std::chrono::steady_clock;

    explicit watchdog_gate(std::chrono::milliseconds stall) : stall_(stall) {}

    void set_stall(std::chrono::milliseconds stall) { stall_ = stall; }
    // Bytes moved or a job changed state.
    void on_progress(clock::time_point now) { last_progress_ = now; }
    // Whether any job is running or awaiting verification now. Becoming active starts the clock.
    void on_activity(bool active, clock::time_point now);
    bool should_ping(clock::time_point now) const { return !stalled_for(now); }
    // How long active jobs have not moved, when that is beyond `stall`.
    std::optional<std::chrono::milliseconds> stalled_for(clock::time_point now) const;
    bool active() const { return active_; }

private:
    std::chrono::milliseconds stall_;
    bool active_ = false;
    clock::time_point last_progress_{};
};

}  // namespace labsync::apps
