#pragma once
// What the watchdog knows about the engine: which jobs are active (running or verifying, or queued
// and overdue) and when anything last moved. Fed from the engine's callbacks and read by the watchdog tick,
// all on the io thread; `stalled` is also read by scrapes (handler pool), hence atomic.

#include "daemon/watchdog_gate.hpp"

#include "labsync/queue/job.hpp"

#include <atomic>
#include <chrono>
#include <set>
#include <vector>

namespace labsync::apps {

class daemon_state {
public:
    explicit daemon_state(std::chrono::milliseconds stall) : gate_(stall) {}

    void reset(const std::vector<queue::job>& active, std::chrono::steady_clock::time_point now) {
        active_.clear();
        for (const auto& j : active) active_.insert(j.id);
        gate_.on_activity(false, now);
        gate_.on_activity(!active_.empty(), now);
    }
    void on_job_changed(const queue::job& job, std::chrono::steady_clock::time_point now) {
        bool active =
            job.state == queue::job_state::running || job.state == queue::job_state::awaiting_verify;
        if (active)
            active_.insert(job.id);
        else
            active_.erase(job.id);
        gate_.on_progress(now);
        gate_.on_activity(!active_.empty() || due_waiting_, now);
    }
    void on_progress(std::chrono::steady_clock::time_point now) { gate_.on_progress(now); }
    // Whether a queued job has been due for longer than the stall limit (checked by the tick).
    void set_due_waiting(bool waiting, std::chrono::steady_clock::time_point now) {
        due_waiting_ = waiting;
        gate_.on_activity(!active_.empty() || due_waiting_, now);
    }
    void set_stall(std::chrono::milliseconds stall) { gate_.set_stall(stall); }
    std::optional<std::chrono::milliseconds> stalled_for(std::chrono::steady_clock::time_point now) const {
        return gate_.stalled_for(now);
    }

    std::atomic<bool> stalled{false};

private:
    watchdog_gate gate_;
    std::set<std::int64_t> active_;
    bool due_waiting_ = false;
};

}  // namespace labsync::apps
