// The operator commands of the public API (force_verify, retry, override_block, cancel_job) and
// the wake-ups (wake_all, request_cleanup, request_rescan, cancel): they act on the thread-safe
// job store from the calling thread, then post to the engine's strand.
#include "engine_impl.hpp"

#include <boost/asio/post.hpp>

namespace labsync::engine {

namespace {

// Finds the live job of a run for an operator command.
template <class Impl, class F>  // Impl: engine::impl (private: deduced, not named)
engine_error with_live_job(Impl& m, const std::filesystem::path& run_path, F f) {
    std::string run_id;
    engine_error err;
    auto* eq = m.equipment_of(run_path, run_id, err);
    if (!eq) return err;
    std::lock_guard lock(m.api_mutex);
    if (!m.store) return make_error(errc::not_open, "engine is not open");
    auto live = m.store->find_live(eq->cfg.name, run_id);
    if (!live) return from_store(live.error());
    if (!*live) return make_error(errc::no_job, fmt::format("no live job for {}/{}", eq->cfg.name, run_id));
    return f(*eq, **live);
}

}  // namespace

engine_error engine::force_verify(const std::filesystem::path& run_path) {
    auto& m = *impl_;
    return with_live_job(m, run_path, [&](equipment_runtime& eq, const queue::job& j) -> engine_error {
        using queue::job_state;
        if (j.state != job_state::verified && j.state != job_state::cleanup_eligible)
            return make_error(errc::wrong_state, fmt::format("job {} is {}: force_verify needs verified",
                                                             j.id, queue::to_string(j.state)));
        queue::transition_details d;
        d.message = "operator force_verify: prove the remote copy again";
        if (auto err = m.store->transition(j.id, job_state::awaiting_verify, d)) return from_store(err);
        const auto id = j.id;
        asio::post(m.strand, [&m, &eq, id] {
            eq.verify_pending.push_back(id);
            m.wake(eq);
            m.notify_changed(id);
        });
        return {};
    });
}

engine_error engine::retry(const std::filesystem::path& run_path, const std::string& who,
                           const std::string& note) {
    auto& m = *impl_;
    return with_live_job(m, run_path, [&](equipment_runtime& eq, const queue::job& j) -> engine_error {
        if (j.state != queue::job_state::failed)
            return make_error(errc::wrong_state, fmt::format("job {} is {}: only a failed job can be retried",
                                                             j.id, queue::to_string(j.state)));
        if (auto err = m.store->retry(j.id, who, note)) return from_store(err);
        m.post_wake(eq.cfg.name);
        m.post_notify(j.id);
        return {};
    });
}

engine_error engine::override_block(const std::filesystem::path& run_path, const std::string& who,
                                    const std::string& why) {
    auto& m = *impl_;
    return with_live_job(m, run_path, [&](equipment_runtime& eq, const queue::job& j) -> engine_error {
        if (j.state != queue::job_state::blocked_by_validation)
            return make_error(errc::wrong_state,
                              fmt::format("job {} is {}: only a blocked job can be overridden", j.id,
                                          queue::to_string(j.state)));
        if (auto err = m.store->record_override(j.id, who, why)) return from_store(err);
        m.post_wake(eq.cfg.name);
        m.post_notify(j.id);
        return {};
    });
}

engine_error engine::cancel_job(std::int64_t job_id, const std::string& who, const std::string& why) {
    auto& m = *impl_;
    std::lock_guard lock(m.api_mutex);
    if (!m.store) return make_error(errc::not_open, "engine is not open");
    if (auto err = m.store->cancel(job_id, who, why)) {
        if (err.code == queue::errc::illegal_transition) return make_error(errc::wrong_state, err.message);
        if (err.code == queue::errc::job_not_found) return make_error(errc::no_job, err.message);
        return from_store(err);
    }
    // A worker that picked the job meanwhile finds it failed at its next transition and stops.
    m.post_notify(job_id);
    return {};
}

void engine::wake_all() {
    auto& m = *impl_;
    asio::post(m.strand, [&m] {
        for (auto& [name, eq] : m.equipment) m.wake(eq);
        if (m.rescan_timer) m.rescan_timer->cancel();  // settle deadlines are re-read as well
    });
}

void engine::request_cleanup() {
    auto& m = *impl_;
    asio::post(m.strand, [&m] {
        m.cleanup_requested = true;
        if (m.cleanup_timer) m.cleanup_timer->cancel();
    });
}

void engine::request_rescan() {
    auto& m = *impl_;
    asio::post(m.strand, [&m] {
        m.rescan_requested = true;
        if (m.rescan_timer) m.rescan_timer->cancel();
    });
}

void engine::cancel() {
    auto& m = *impl_;
    asio::post(m.strand, [&m] { m.stop_all(); });
}

}  // namespace labsync::engine
