// The engine's coroutines on its strand: the run loop and its wait-group, the global permit
// semaphore, per-equipment workers, and the ship -> verify pipeline with the retry policy.
// Every state change is written to the store before the side effect it announces.
#include "engine_impl.hpp"

#include "labsync/engine/run_files.hpp"
#include "labsync/engine/stored_error_kind.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>

namespace labsync::engine {

using namespace boost::asio::experimental::awaitable_operators;
using queue::job_state;
using transports::error_kind;

namespace {

std::chrono::steady_clock::duration until(queue::time_point when, queue::time_point now) {
    if (when <= now) return std::chrono::steady_clock::duration::zero();
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(when - now);
}

error_kind kind_of_build_error(std::error_code ec) {
    if (ec == verifier::errc::local_file_vanished || ec == verifier::errc::local_file_changed ||
        ec == verifier::errc::not_a_directory || ec == std::errc::no_such_file_or_directory)
        return error_kind::local_file_vanished;
    return error_kind::unknown;
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
        if (eq.cfg.watch) spawn(watch(eq), "watch");
    }
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
    for (auto& [name, eq] : equipment) {
        wake(eq);
        if (eq.inotify) {
            boost::system::error_code ec;
            eq.inotify->cancel(ec);
        }
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
            queue::job_filter f;
            f.equipment = eq.cfg.name;
            f.state = job_state::queued;
            auto queued = store->list(f);
            if (!queued)
                log(log_level::error, "{}: cannot list queued jobs: {}", eq.cfg.name, queued.error().message);
            const auto t = now();
            for (auto& j : queued ? *queued : std::vector<queue::job>{}) {
                if (eq.in_flight.count(j.id)) continue;
                auto due = j.next_attempt_at.value_or(queue::time_point::min());
                if (auto nb = eq.not_before.find(j.id); nb != eq.not_before.end())
                    due = std::max(due, nb->second);
                if (due > t) {
                    if (!wake_at || due < *wake_at) wake_at = due;
                    continue;
                }
                picked = std::move(j);
                break;
            }
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
            if (to_verify)
                co_await verify(eq, std::move(*picked), std::nullopt);
            else
                co_await ship(eq, std::move(*picked));
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

asio::awaitable<void> engine::impl::ship(equipment_runtime& eq, queue::job job) {
    {
        queue::transition_details d;
        d.message = fmt::format("shipping via {} (attempt {})", eq.transport->name(), job.attempts + 1);
        if (!co_await transition(job.id, job_state::running, d)) co_return;
    }
    auto built = co_await build_manifest(job.run_path, progress_reporter(eq, job, progress_phase::hashing));
    if (stopping) co_return;  // stays running: replayed as queued on the next open
    if (!built.ok()) {
        const auto kind = kind_of_build_error(built.error);
        co_await handle_failure(eq, job,
                                transports::transport_result::failure(
                                    kind, fmt::format("cannot build the manifest of {} at '{}': {}",
                                                      job.run_path, built.error_path, built.error.message())),
                                true);
        co_return;
    }
    auto req = make_request(eq, job, &built.manifest, progress_phase::uploading);
    auto outcome = co_await (eq.transport->push(req) || wait_stop());
    if (outcome.index() == 1) co_return;  // cancelled by stop: the job stays running -> replayed
    auto& result = std::get<0>(outcome);
    if (!result.ok) {
        co_await handle_failure(eq, job, result, true);
        co_return;
    }
    queue::transition_details d;
    d.attempts = queue::attempts_update::increment;
    // The last error stays until `verified`: a verification mismatch right after a re-ship must
    // see that the previous attempt was a mismatch too (one immediate retry, not a loop).
    d.bytes = static_cast<std::int64_t>(built.manifest.total_bytes());
    d.manifest_digest = verifier::to_hex(built.manifest.digest());
    d.archive_sha256 = eq.transport->shipped_archive_sha256(req);
    d.tree_digest = verifier::to_hex(verifier::tree_digest(built));
    d.message = fmt::format("shipped {} files, {} bytes (status {})", built.manifest.entries().size(),
                            built.manifest.total_bytes(), result.returncode);
    if (!co_await transition(job.id, job_state::awaiting_verify, d)) co_return;
    auto updated = store->find(job.id);
    if (!updated) co_return;
    co_await verify(eq, std::move(*updated), std::move(built.manifest), std::move(result.remote_manifest));
}

asio::awaitable<void> engine::impl::verify(equipment_runtime& eq, queue::job job,
                                           std::optional<verifier::manifest> local,
                                           std::optional<verifier::manifest> pushed_proof) {
    const bool by_archive = job.archive_sha256.has_value() && !job.archive_sha256->empty();
    if (!by_archive && !local) {
        // Manifest transports after a restart: hash the run again and make sure it is what was shipped.
        auto built =
            co_await build_manifest(job.run_path, progress_reporter(eq, job, progress_phase::hashing));
        if (stopping) co_return;
        if (!built.ok()) {
            co_await handle_failure(
                eq, job,
                transports::transport_result::failure(kind_of_build_error(built.error),
                                                      fmt::format("cannot re-hash {} for verification: {}",
                                                                  job.run_path, built.error.message())),
                false);
            co_return;
        }
        if (job.manifest_digest && verifier::to_hex(built.manifest.digest()) != *job.manifest_digest) {
            co_await handle_failure(
                eq, job,
                transports::transport_result::failure(
                    error_kind::local_file_vanished,
                    "the local run changed after it was shipped (manifest digest differs)"),
                false);
            co_return;
        }
        local = std::move(built.manifest);
    }
    transports::probe_result probe;
    if (pushed_proof && !by_archive) {
        probe.status = transports::transport_result::success();
        probe.present = true;
        probe.remote_manifest = std::move(pushed_proof);
    } else {
        auto req = make_request(eq, job, local ? &*local : nullptr);
        if (req.on_progress) req.on_progress(0, 0);  // entering the probe is a step of its own
        auto outcome = co_await (eq.transport->probe(req) || wait_stop());
        if (outcome.index() == 1) co_return;  // stays awaiting_verify: verified again on the next open
        probe = std::move(std::get<0>(outcome));
    }
    if (!probe.status.ok) {
        co_await handle_failure(eq, job, probe.status, false);
        co_return;
    }
    std::string why;
    bool match = false;
    if (!probe.present) {
        why = "the remote has no copy of this run";
    } else if (by_archive) {
        match = probe.archive_sha256 && *probe.archive_sha256 == *job.archive_sha256;
        if (!match)
            why = fmt::format("remote archive sha256 {} differs from the shipped {}",
                              probe.archive_sha256.value_or("(none)"), *job.archive_sha256);
    } else if (!probe.remote_manifest) {
        why = "the probe returned neither a manifest nor an archive sha256";
    } else {
        const auto diff = verifier::compare(*local, *probe.remote_manifest);
        match = diff.empty();
        if (!match) why = "remote differs: " + diff.summary();
    }
    if (!match) {
        co_await handle_failure(eq, job,
                                transports::transport_result::failure(error_kind::hash_mismatch, why), false);
        co_return;
    }
    queue::transition_details d;
    d.clear_error = true;
    d.message = by_archive
                    ? fmt::format("verified: remote archive sha256 {}", *job.archive_sha256)
                    : fmt::format("verified: remote manifest matches ({} files)", local->entries().size());
    if (!co_await transition(job.id, job_state::verified, d)) co_return;
    remove_outbox(eq.cfg.name, job.run_id);  // after the durable `verified`
    if (eq.cfg.cleanup_enabled && eq.cfg.retention.count() == 0) {
        cleanup_requested = true;
        if (cleanup_timer) cleanup_timer->cancel();
    }
}

asio::awaitable<void> engine::impl::handle_failure(equipment_runtime& eq, const queue::job& job,
                                                   const transports::transport_result& result,
                                                   bool counts_attempt) {
    const std::optional<error_kind> previous = stored_error_kind(job);
    const int attempts = job.attempts + (counts_attempt ? 1 : 0);
    const auto decision = policy->decide(result.kind, std::max(attempts, 1), previous);
    queue::transition_details d;
    d.attempts = counts_attempt ? queue::attempts_update::increment : queue::attempts_update::keep;
    std::string text = result.message;
    if (text.empty())
        text = fmt::format("{} (status {})", transports::to_string(result.kind), result.returncode);
    d.error = stored_error(result.kind, text);
    d.message = fmt::format("{}: {}", decision.reason, text);
    log(decision.action == retry_action::backoff ? log_level::warning : log_level::error, "{}/{}: {}",
        eq.cfg.name, job.run_id, d.message);
    switch (decision.action) {
        case retry_action::backoff:
            d.next_attempt_at = now() + decision.delay;
            co_await transition(job.id, job_state::queued, d);
            break;
        case retry_action::immediate_retry:
            co_await transition(job.id, job_state::queued, d);
            break;
        case retry_action::fail:
            co_await transition(job.id, job_state::failed, d);
            break;
        case retry_action::quarantine: {
            d.message = fmt::format("{}; run moves to {}", d.message,
                                    (config.quarantine_dir / eq.cfg.name / job.run_id).string());
            if (!co_await transition(job.id, job_state::failed, d)) break;
            remove_outbox(eq.cfg.name, job.run_id);  // re-shipping cannot help; drop the archive first
            quarantine_reason reason{eq.cfg.name,
                                     job.run_id,
                                     std::string(transports::to_string(result.kind)),
                                     result.returncode,
                                     result.stdout_text,
                                     text,
                                     attempts,
                                     std::chrono::system_clock::now()};
            const auto run_path = std::filesystem::path(job.run_path);
            const auto qdir = config.quarantine_dir;
            auto pool_task = [run_path, qdir, reason] {
                std::filesystem::path to;
                bool renamed = false;
                auto err = move_to_quarantine(run_path, qdir, reason, to, renamed);
                return std::tuple{err, to, renamed};
            };
            const auto moved_to = co_await on_pool(std::move(pool_task));
            const auto& [ec, dest, moved] = moved_to;
            if (ec)
                log(log_level::error, "{}/{}: quarantine failed: {}", eq.cfg.name, job.run_id, ec.message());
            else
                log(log_level::warning, "{}/{}: quarantined to {}{}", eq.cfg.name, job.run_id, dest.string(),
                    moved ? "" : " (run left in place: other filesystem)");
            break;
        }
    }
}

}  // namespace labsync::engine
