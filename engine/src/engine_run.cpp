// The engine's coroutines on its strand: the run loop and its wait-group, the global permit
// semaphore, per-equipment workers, and the driver of job_fsm (ship -> verify, retry, cleanup):
// it performs each action and feeds the result back. Every state change is written to the store
// before the side effect it announces.
#include "engine_impl.hpp"

#include "labsync/engine/run_files.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>

namespace labsync::engine {

using namespace boost::asio::experimental::awaitable_operators;
using queue::job_state;

namespace {

std::chrono::steady_clock::duration until(queue::time_point when, queue::time_point now) {
    if (when <= now) return std::chrono::steady_clock::duration::zero();
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(when - now);
}

}  // namespace

void engine::impl::spawn(asio::awaitable<void> child, const char* what) {
    ++children;
    asio::co_spawn(strand, std::move(child), [this, what](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log(log_level::error, "engine task '{}' ended with an exception: {}", what, ex.what());
            } catch (...) {
                log(log_level::error, "engine task '{}' ended with an unknown exception", what);
            }
        }
        if (--children == 0 && children_done) children_done->cancel();
    });
}

asio::awaitable<void> engine::async_run() {
    auto* m = impl_.get();
    if (!m->opened) co_return;
    m->run_started = true;
    try {
        co_await asio::co_spawn(m->strand, m->run(), asio::use_awaitable);
    } catch (...) {
        m->run_finished = true;
        m->run_done.set_value();
        throw;
    }
    m->run_finished = true;
    m->run_done.set_value();
}

asio::awaitable<void> engine::impl::run() {
    const auto make_timer = [this] {
        auto t = std::make_unique<asio::steady_timer>(strand);
        t->expires_at(asio::steady_timer::time_point::max());
        return t;
    };
    children_done = make_timer();
    permit_timer = make_timer();
    stop_timer = make_timer();
    rescan_timer = make_timer();
    cleanup_timer = make_timer();
    permits = config.max_parallel_global;
    if (stopping) co_return;
    for (auto& [name, eq] : equipment) {
        for (int i = 0; i < eq.cfg.max_parallel; ++i) {
            eq.worker_timers.push_back(make_timer());
            spawn(worker(eq, eq.worker_timers.size() - 1), "worker");
        }
    }
    if (std::any_of(equipment.begin(), equipment.end(), [](const auto& e) { return e.second.cfg.watch; }))
        spawn(watch(), "watch");
    spawn(rescan_loop(), "rescan");
    spawn(cleanup_loop(), "cleanup");
    spawn(bandwidth_loop(), "bandwidth");
    log(log_level::info, "engine running: {} equipment, {} global slots", equipment.size(), permits);
    while (children > 0) {
        boost::system::error_code ec;
        co_await children_done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    log(log_level::info, "engine stopped");
}

void engine::impl::stop_all() {
    if (stopping) return;
    stopping = true;
    log(log_level::info, "engine stopping");
    for (auto* t : {permit_timer.get(), stop_timer.get(), rescan_timer.get(), cleanup_timer.get()})
        if (t) t->cancel();
    for (auto& [name, eq] : equipment) wake(eq);
    if (inotify) {
        boost::system::error_code ec;
        inotify->cancel(ec);
    }
}

asio::awaitable<void> engine::impl::wait_stop() {
    while (!stopping) {
        boost::system::error_code ec;
        co_await stop_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

asio::awaitable<void> engine::impl::bandwidth_loop() {
    // Transfers starting and ending re-split the budget themselves; this applies a timetable
    // change to the transfers already running. Re-checked at least every minute, so a jump of
    // the wall clock (DST, NTP) is applied within a minute.
    asio::steady_timer timer(strand);
    while (!stopping) {
        bandwidth->refresh();
        const int second = bandwidth_scheduler::local_second_of_day();
        int wait = bandwidth->seconds_until_change(second);
        if (wait <= 0 || wait > 60) wait = 60 - second % 60;
        timer.expires_after(std::chrono::seconds(wait));
        co_await (timer.async_wait(asio::use_awaitable) || wait_stop());
    }
}

asio::awaitable<bool> engine::impl::acquire_permit() {
    while (permits == 0 && !stopping) {
        boost::system::error_code ec;
        co_await permit_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (stopping) co_return false;
    --permits;
    co_return true;
}

void engine::impl::release_permit() {
    ++permits;
    permit_timer->cancel();  // every waiter re-checks; the first one takes it
}

asio::awaitable<void> engine::impl::worker(equipment_runtime& eq, std::size_t index) {
    auto& timer = *eq.worker_timers[index];
    while (!stopping) {
        // Pick: jobs to (re)verify first, then the oldest due queued job nobody else holds.
        std::optional<queue::job> picked;
        bool to_verify = false;
        std::optional<queue::time_point> wake_at;
        while (!picked && !eq.verify_pending.empty()) {
            const auto id = eq.verify_pending.front();
            eq.verify_pending.pop_front();
            if (eq.in_flight.count(id)) continue;
            if (auto j = store->find(id); j && j->state == job_state::awaiting_verify) {
                picked = std::move(*j);
                to_verify = true;
            }
        }
        if (!picked) {
            // The oldest due job is nearly always among the oldest few: read a page that can hold
            // one besides those in flight or held back, and the whole list only when the page
            // holds none (same pick; O(page) per pick instead of O(queued) with hundreds queued).
            queue::job_filter f;
            f.equipment = eq.cfg.name;
            f.state = job_state::queued;
            f.limit = eq.in_flight.size() + eq.not_before.size() + 8;
            auto queued = store->list(f);
            auto due = queued ? pick_due(*queued, eq.in_flight, eq.not_before, now()) : pick_result{};
            if (queued && !due.index && queued->size() == f.limit) {
                f.limit = 0;
                queued = store->list(f);
                if (queued) due = pick_due(*queued, eq.in_flight, eq.not_before, now());
            }
            if (!queued)
                log(log_level::error, "{}: cannot list queued jobs: {}", eq.cfg.name, queued.error().message);
            else if (due.index)
                picked = std::move((*queued)[*due.index]);
            else
                wake_at = due.wake_at;
        }
        if (!picked) {
            // Nothing due: sleep until the earliest next_attempt_at or a wake() from enqueue/retry/stop.
            if (wake_at)
                timer.expires_after(until(*wake_at, now()));
            else
                timer.expires_at(asio::steady_timer::time_point::max());
            boost::system::error_code ec;
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        const auto id = picked->id;
        eq.in_flight.insert(id);
        clear_waiting(eq.cfg.name, picked->run_id);
        if (co_await acquire_permit()) {
            auto context = context_for(eq, *picked);
            auto fsm = to_verify ? job_fsm::verify(std::move(*picked), std::move(context))
                                 : job_fsm::ship(std::move(*picked), std::move(context));
            co_await drive(eq, std::move(fsm));
            release_permit();
        }
        eq.in_flight.erase(id);
        eq.not_before.erase(id);
    }
}

transports::progress_fn engine::impl::progress_reporter(const equipment_runtime& eq, const queue::job& job,
                                                        progress_phase phase) {
    if (!deps.on_progress) return {};
    // Drivers and the verifier report from pool threads (every MiB): throttle there, deliver on the strand.
    struct state {
        std::mutex mutex;
        std::chrono::steady_clock::time_point last{};
    };
    auto s = std::make_shared<state>();
    return [this, s, ev = progress_event{job.id, eq.cfg.name, job.run_id, 0, 0, phase}](std::uint64_t done,
                                                                                        std::uint64_t total) {
        {
            std::lock_guard lock(s->mutex);
            const auto n = std::chrono::steady_clock::now();
            if (n - s->last < std::chrono::milliseconds(200) && done != total) return;
            s->last = n;
        }
        auto e = ev;
        e.done = done;
        e.total = total;
        asio::post(strand, [this, e = std::move(e)] {
            if (deps.on_progress) deps.on_progress(e);
        });
    };
}

transports::push_request engine::impl::make_request(equipment_runtime& eq, const queue::job& job,
                                                    const verifier::manifest* local, progress_phase phase) {
    transports::push_request req;
    req.equipment = eq.cfg.name;
    req.run_id = job.run_id;
    req.run_path = job.run_path;
    req.local_manifest = local;
    req.limiter = bandwidth->limiter(eq.cfg.name);
    req.on_progress = progress_reporter(eq, job, phase);
    if (phase == progress_phase::uploading)
        req.on_pack_progress = progress_reporter(eq, job, progress_phase::packing);
    return req;
}

asio::awaitable<verifier::build_result> engine::impl::build_manifest(const std::filesystem::path& run_path,
                                                                     transports::progress_fn progress) {
    auto builder = deps.build_manifest;
    verifier::build_options o;
    o.threads = config.cpu_threads ? config.cpu_threads : 0;
    o.on_progress = std::move(progress);
    auto pool_task = [builder, run_path, o] {
        if (builder) return builder(run_path, o);
        return verifier::build_manifest(run_path, o);
    };
    co_return co_await on_pool(std::move(pool_task));
}

job_context engine::impl::context_for(const equipment_runtime& eq, const queue::job& job) {
    job_context c;
    c.transport_name = std::string(eq.transport->name());
    c.push_hashes_run = eq.transport->push_hashes_run();
    c.policy = policy.get();
    c.clock = [this] { return now(); };
    c.quarantine_path = (config.quarantine_dir / eq.cfg.name / job.run_id).string();
    c.cleanup_enabled = eq.cfg.cleanup_enabled;
    c.retention = eq.cfg.retention;
    c.cleanup_rehash = eq.cfg.cleanup_rehash.value_or(config.cleanup_rehash);
    return c;
}

asio::awaitable<void> engine::impl::drive(equipment_runtime& eq, job_fsm fsm) {
    // Performs what the machine asks and feeds back the result. When the engine stops, the job
    // stays in its last committed state (a push or probe in flight is abandoned) and is replayed.
    job_event event = job_events::start{};
    for (;;) {
        job_action action = fsm.resume(std::move(event));
        if (!action.log.empty()) log(action.level, "{}", action.log);
        const auto& job = fsm.job();
        switch (action.kind) {
            case job_action_kind::done:
                co_return;
            case job_action_kind::commit: {
                const bool ok = co_await transition(job.id, action.to, action.details);
                event = job_events::committed{ok};
                break;
            }
            case job_action_kind::build_manifest: {
                transports::progress_fn progress;
                if (action.report_progress) progress = progress_reporter(eq, job, progress_phase::hashing);
                auto built = co_await build_manifest(job.run_path, std::move(progress));
                if (stopping) co_return;
                event = job_events::built{std::move(built)};
                break;
            }
            case job_action_kind::fingerprint: {
                auto pool_task = [run_path = std::filesystem::path(job.run_path)] {
                    return verifier::fingerprint_run(run_path);
                };
                auto walked = co_await on_pool(std::move(pool_task));
                if (stopping) co_return;
                event = job_events::fingerprinted{std::move(walked)};
                break;
            }
            case job_action_kind::push: {
                auto req = make_request(eq, job, fsm.local_manifest(), progress_phase::uploading);
                auto outcome = co_await (eq.transport->push(req) || wait_stop());
                if (outcome.index() == 1) co_return;
                event = job_events::pushed{std::move(std::get<0>(outcome))};
                break;
            }
            case job_action_kind::probe: {
                auto req = make_request(eq, job, fsm.local_manifest());
                if (req.on_progress && action.report_progress) req.on_progress(0, 0);  // a step of its own
                auto outcome = co_await (eq.transport->probe(req) || wait_stop());
                if (outcome.index() == 1) co_return;
                event = job_events::probed{std::move(std::get<0>(outcome))};
                break;
            }
            case job_action_kind::release: {
                auto* driver = eq.transport.get();
                auto pool_task = [driver, equipment = eq.cfg.name, run = job.run_id] {
                    return driver->release(equipment, run);
                };
                auto error = co_await on_pool(std::move(pool_task));
                event = job_events::released{std::move(error)};
                break;
            }
            case job_action_kind::quarantine: {
                auto reason = *action.reason;
                reason.at = std::chrono::system_clock::now();
                auto pool_task = [run_path = std::filesystem::path(job.run_path),
                                  qdir = config.quarantine_dir, reason] {
                    job_events::quarantined q;
                    q.error = move_to_quarantine(run_path, qdir, reason, q.destination, q.moved);
                    return q;
                };
                auto moved = co_await on_pool(std::move(pool_task));
                event = std::move(moved);
                break;
            }
            case job_action_kind::delete_run: {
                // Also when the run is gone: a deletion interrupted after its rename leaves a
                // tombstone that this removes.
                const std::filesystem::path run_path = job.run_path;
                auto pool_task = [parent = run_path.parent_path(), name = run_path.filename().string()] {
                    job_events::deleted d;
                    d.error = remove_run_tree(parent, name, &d.where);
                    return d;
                };
                auto deleted = co_await on_pool(std::move(pool_task));
                event = std::move(deleted);
                break;
            }
            case job_action_kind::schedule_verify:
                eq.verify_pending.push_back(job.id);
                wake(eq);
                event = job_events::performed{};
                break;
            case job_action_kind::request_cleanup:
                cleanup_requested = true;
                if (cleanup_timer) cleanup_timer->cancel();
                event = job_events::performed{};
                break;
        }
    }
}

}  // namespace labsync::engine
