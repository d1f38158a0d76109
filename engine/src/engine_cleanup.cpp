// The cleanup loop (SPEC §10): retention / watermark candidates, the deletion interlocks
// re-checked at deletion time (job_fsm::cleanup), the transports' orphan sweep and quarantine
// pruning.
#include "engine_impl.hpp"

#include "labsync/engine/run_files.hpp"

#include <boost/asio/redirect_error.hpp>

#include <sys/stat.h>

namespace labsync::engine {

using queue::job_state;

asio::awaitable<void> engine::impl::cleanup_loop() {
    // Outbox orphans and old quarantine entries first: a restart after a long downtime catches up.
    while (!stopping) {
        co_await cleanup_pass();
        if (stopping) break;
        if (cleanup_requested) {
            cleanup_requested = false;
            continue;
        }
        cleanup_timer->expires_after(config.cleanup_interval.count() > 0
                                         ? std::chrono::steady_clock::duration(config.cleanup_interval)
                                         : std::chrono::steady_clock::duration::max() / 2);
        boost::system::error_code ec;
        co_await cleanup_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        cleanup_requested = false;
    }
}

asio::awaitable<void> engine::impl::cleanup_pass() {
    for (auto& [name, eq] : equipment) {
        if (stopping) co_return;
        queue::job_filter f;
        f.equipment = name;
        // Jobs left cleanup_eligible (replay, or a pass interrupted) are re-checked first.
        f.state = job_state::cleanup_eligible;
        if (auto pending = store->list(f))
            for (auto& j : *pending) {
                if (stopping) co_return;
                co_await cleanup_one(eq, j);
            }
        if (!eq.cfg.cleanup_enabled) continue;
        f.state = job_state::verified;
        auto verified = store->list(f);
        if (!verified) continue;
        bool under = under_watermark(eq);
        const auto candidates = select_cleanup_candidates(*verified, now(), eq.cfg.retention, under);
        for (const auto& c : candidates) {
            if (stopping) co_return;
            if (!c.retention_passed && !(under = under_watermark(eq))) break;  // freed enough
            queue::transition_details d;
            d.message =
                c.retention_passed ? "cleanup: retention passed" : "cleanup: free space under the watermark";
            if (!co_await transition(c.job_id, job_state::cleanup_eligible, d)) continue;
            if (auto j = store->find(c.job_id)) co_await cleanup_one(eq, *j);
        }
    }
    if (stopping) co_return;
    const auto quarantine = config.quarantine_dir;
    const int keep_days = config.quarantine_keep_days;
    const auto t = now();
    std::vector<transports::transport*> drivers;
    for (auto& [name, eq] : equipment) drivers.push_back(eq.transport.get());
    // The store is thread-safe; each transport's sweep asks it which artefacts are still wanted.
    auto* s = &*store;
    auto pool_task = [drivers, quarantine, keep_days, t, s] {
        const transports::wanted_fn wanted = [s](const std::string& equipment, const std::string& run) {
            auto live = s->find_live(equipment, run);
            if (!live) return true;  // cannot tell: keep
            if (!*live) return false;
            const auto st = (*live)->state;
            return st == job_state::queued || st == job_state::running || st == job_state::awaiting_verify ||
                   st == job_state::failed || st == job_state::blocked_by_validation;
        };
        std::vector<std::string> swept;
        for (auto* driver : drivers)
            for (auto& line : driver->sweep(wanted)) swept.push_back(std::move(line));
        return std::pair{swept, prune_quarantine(quarantine, keep_days, t)};
    };
    const auto sweep = co_await on_pool(std::move(pool_task));
    for (const auto& p : sweep.first) log(log_level::info, "swept orphan {}", p);
    for (const auto& p : sweep.second)
        log(log_level::info, "pruned quarantine entry {} (older than {} days)", p.string(), keep_days);
}

asio::awaitable<void> engine::impl::cleanup_one(equipment_runtime& eq, queue::job job) {
    auto context = context_for(eq, job);
    context.under_watermark = under_watermark(eq);
    struct stat st {};
    context.run_gone = ::lstat(job.run_path.c_str(), &st) != 0 && errno == ENOENT;
    auto fsm = job_fsm::cleanup(std::move(job), std::move(context));
    co_await drive(eq, std::move(fsm));
}

}  // namespace labsync::engine
