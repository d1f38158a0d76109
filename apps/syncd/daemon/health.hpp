#pragma once
// The daemon's health side: the watchdog (WATCHDOG=1 only while active jobs move), the systemd
// status line, the job progress that `syncd status` shows and the /metrics document. It reads the
// queue through the engine's query API (engine_host::with / try_with), never the store.
// Threads: the engine's callbacks and the tick run on the io thread; render_metrics() and
// progress() are called from the side servers' handler pool.

#include "admin/status_view.hpp"
#include "daemon/daemon_state.hpp"
#include "daemon/engine_host.hpp"
#include "daemon/notify.hpp"
#include "metrics/metrics_registry.hpp"
#include "metrics/throughput_history.hpp"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace labsync::apps {

class health {
public:
    health(boost::asio::io_context& io, engine_host& host, systemd_notifier& notifier, common::log_fn log,
           std::chrono::milliseconds stall);

    // Sets the engine's on_job_changed / on_progress to feed the watchdog, metrics and progress.
    void observe(engine::engine_deps& deps);
    // An engine just opened (it does not run yet): its running and verifying jobs of configured
    // equipment count as active from the start. Posted to the io thread ahead of the engine.
    void on_engine_opened(engine::engine& eng, const engine::engine_config& config);
    // Starts the watchdog tick and sends READY=1 with the first status line.
    void ready();
    // Stops the tick (posted to the io thread; it has stopped once the io thread is idle).
    void stop();
    void set_stall(std::chrono::milliseconds stall);  // after a reload

    bool is_ready() const noexcept { return ready_; }
    std::int64_t uptime_s() const;
    const progress_tracker& progress() const noexcept { return progress_; }
    metrics_registry& metrics() noexcept { return metrics_; }
    const throughput_history& throughput() const noexcept { return throughput_; }
    // The /metrics document (any thread; waits for a reload in progress).
    std::string render_metrics();
    // "queued 1, running 0, ..." (the last one when the engine is busy or swapping).
    std::string status_line();

private:
    void schedule_tick();
    void on_tick();
    bool queued_overdue();

    boost::asio::io_context& io_;
    engine_host& host_;
    systemd_notifier& notifier_;
    common::log_fn log_;
    boost::asio::steady_timer tick_timer_;
    std::chrono::milliseconds tick_interval_{1000};
    std::chrono::milliseconds stall_;  // io thread
    daemon_state state_;
    metrics_registry metrics_;
    progress_tracker progress_;
    throughput_history throughput_;  // bytes uploaded per minute, for the status page
    std::atomic<bool> ready_{false};
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::string last_status_;  // io thread (and main before ready())
    std::chrono::steady_clock::time_point last_status_at_{};
};

}  // namespace labsync::apps
