// The engine's public API and its thread-agnostic half: open(), enqueue and the operator
// commands act on the (thread-safe) job store from the calling thread, then post wake-ups and
// callbacks to the engine's strand.
#include "engine_impl.hpp"

#include "labsync/common/ids.hpp"
#include "labsync/engine/bandwidth_timetable.hpp"
#include "labsync/engine/run_files.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>

#include <sys/statvfs.h>

#include <algorithm>

namespace labsync::engine {

using namespace boost::asio::experimental::awaitable_operators;

namespace {

// The marker is a file inside the run, never a path component of any layout: any name a file can
// have (the config loader applies the same rule).
bool plain_file_name(std::string_view name) {
    return !name.empty() && name.size() <= 255 && name != "." && name != ".." &&
           name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

std::filesystem::path normal(const std::filesystem::path& p) {
    auto n = p.lexically_normal();
    if (n.has_filename() || n == n.root_path()) return n;
    return n.parent_path();  // strip a trailing '/'
}

}  // namespace

engine_error validate(const engine_config& c) {
    const auto bad = [](std::string m) { return make_error(errc::invalid_config, std::move(m)); };
    if (c.state_dir.empty()) return bad("state_dir: must be set (the job store lives there)");
    if (c.outbox_dir.empty()) return bad("outbox_dir: must be set");
    if (c.quarantine_dir.empty()) return bad("quarantine_dir: must be set");
    if (c.quarantine_keep_days < 0) return bad("quarantine_keep_days: must be >= 0 (0 = keep forever)");
    if (c.max_parallel_global < 1) return bad("max_parallel_global: must be >= 1");
    if (c.rescan_interval.count() < 0) return bad("rescan_interval: must be >= 0 (0 = off)");
    if (c.backoff.max_attempts < 1) return bad("backoff.max_attempts: must be >= 1");
    if (c.backoff.base.count() < 0 || c.backoff.cap < c.backoff.base)
        return bad("backoff: base must be >= 0 and cap >= base");
    timetable_parse_error te;
    if (!bandwidth_timetable::parse(c.bandwidth, &te)) return bad("bandwidth: " + te.message);
    std::set<std::string> names;
    for (std::size_t i = 0; i < c.equipment.size(); ++i) {
        const auto& e = c.equipment[i];
        const auto where = fmt::format("equipment[{}] ({})", i, e.name);
        if (auto why = common::id_refusal_reason(common::id_kind::equipment, e.name); !why.empty())
            return bad(where + ".name: " + why);
        if (!names.insert(e.name).second) return bad(where + ".name: used twice");
        if (e.runs_root.empty()) return bad(where + ".runs_root: must be set");
        if (!plain_file_name(e.marker_name)) return bad(where + ".marker_name: must be a plain file name");
        if (e.max_parallel < 1) return bad(where + ".max_parallel: must be >= 1");
        if (e.settle.count() < 0 || e.retention.count() < 0)
            return bad(where + ": settle and retention must be >= 0");
        if (e.watermark.min_free_percent < 0 || e.watermark.min_free_percent > 100)
            return bad(where + ".watermark.min_free_percent: must be within 0..100");
        if (!bandwidth_timetable::parse(e.bandwidth, &te)) return bad(where + ".bandwidth: " + te.message);
        const auto problems = std::visit([](const auto& t) { return t.validate(); }, e.transport);
        if (!problems.empty())
            return bad(fmt::format("{}.transport ({}): {}", where, to_string(kind_of(e.transport)),
                                   transports::describe(problems)));
    }
    return {};
}

engine::impl::impl(asio::io_context& io_, engine_config config_, engine_deps deps_)
    : io(io_), strand(asio::make_strand(io_)), config(std::move(config_)), deps(std::move(deps_)) {}

engine::engine(asio::io_context& io, engine_config config, engine_deps deps)
    : impl_(std::make_unique<impl>(io, std::move(config), std::move(deps))) {}

engine::~engine() {
    close();
}

const engine_config& engine::config() const noexcept {
    return impl_->config;
}

engine_error engine::open() {
    auto& m = *impl_;
    if (m.opened) return {};
    if (auto err = validate(m.config)) return err;
    std::error_code ec;
    for (const auto& dir : {m.config.state_dir, m.config.outbox_dir, m.config.quarantine_dir}) {
        std::filesystem::create_directories(dir, ec);
        if (ec)
            return make_error(errc::invalid_config,
                              fmt::format("cannot create '{}': {}", dir.string(), ec.message()));
    }
    const unsigned threads =
        m.config.cpu_threads ? m.config.cpu_threads : std::max(2u, std::thread::hardware_concurrency());
    m.pool = std::make_unique<asio::thread_pool>(threads);
    if (!m.deps.random_unit) {
        m.deps.random_unit = [&m] {
            std::lock_guard lock(m.rng_mutex);
            return std::uniform_real_distribution<double>(0.0, 1.0)(m.rng);
        };
    }
    m.policy = std::make_unique<retry_policy>(m.config.backoff, m.deps.random_unit);
    {
        queue::store_options options;
        options.clock = m.deps.clock;
        auto opened = queue::job_store::open(m.config.state_dir / "jobs.db", options);
        if (!opened) return from_store(opened.error());
        m.store.emplace(std::move(*opened));
    }
    m.commits = std::make_unique<queue::commit_queue>(*m.store);
    std::map<std::string, bandwidth_timetable> timetables;
    for (const auto& e : m.config.equipment)
        timetables.emplace(e.name, *bandwidth_timetable::parse(e.bandwidth, nullptr));
    m.bandwidth = std::make_shared<bandwidth_scheduler>(
        *bandwidth_timetable::parse(m.config.bandwidth, nullptr), std::move(timetables));
    if (!m.deps.transports) m.deps.transports = default_transport_factory();
    transport_context context{m.io, *m.pool, m.config.outbox_dir, m.deps.log};
    for (const auto& e : m.config.equipment) {
        auto& rt = m.equipment[e.name];
        rt.cfg = e;
        std::string why;
        rt.transport = m.deps.transports(e, context, why);
        if (!rt.transport)
            return make_error(errc::invalid_config,
                              fmt::format("equipment {}: transport {} cannot be created: {}", e.name,
                                          to_string(kind_of(e.transport)), why));
        std::filesystem::create_directories(e.runs_root, ec);
    }
    const auto& replay = m.store->replayed();
    for (auto id : replay.to_reverify) {
        auto j = m.store->find(id);
        if (!j) continue;
        if (auto* eq = m.find_equipment(j->equipment)) eq->verify_pending.push_back(id);
    }
    m.log(log_level::info,
          "engine open: {} equipment, store {} ({} requeued, {} to re-verify, {} cleanup pending)",
          m.equipment.size(), m.store->path().string(), replay.requeued.size(), replay.to_reverify.size(),
          replay.cleanup_pending.size());
    m.opened = true;
    return {};
}

equipment_runtime* engine::impl::find_equipment(const std::string& name) {
    auto it = equipment.find(name);
    return it == equipment.end() ? nullptr : &it->second;
}

equipment_runtime* engine::impl::equipment_of(const std::filesystem::path& run_path, std::string& run_id,
                                              engine_error& err) {
    const auto p = normal(run_path);
    run_id = p.filename().string();
    for (auto& [name, eq] : equipment) {
        if (normal(eq.cfg.runs_root) != p.parent_path()) continue;
        if (auto why = common::id_refusal_reason(common::id_kind::run, run_id); !why.empty()) {
            err = make_error(errc::invalid_run_path, fmt::format("{}: {}", p.string(), why));
            return nullptr;
        }
        return &eq;
    }
    err = make_error(errc::unknown_equipment,
                     fmt::format("'{}' is not directly below the runs root of any equipment", p.string()));
    return nullptr;
}

enqueue_result engine::impl::enqueue_blocking(const std::filesystem::path& run_path, bool from_watcher,
                                              std::optional<queue::time_point>* settle_until) {
    enqueue_result out;
    std::string run_id;
    auto* eq = equipment_of(run_path, run_id, out.error);
    if (!eq) return out;
    std::unique_lock lock(api_mutex);
    if (!store) {
        out.error = make_error(errc::not_open, "engine is not open");
        return out;
    }
    auto live = store->find_live(eq->cfg.name, run_id);
    if (!live) {
        out.error = from_store(live.error());
        return out;
    }
    if (*live) {
        out.job_id = (*live)->id;
        out.state = (*live)->state;
        out.already_known = true;
        if (out.state == queue::job_state::blocked_by_validation)
            out.findings = recorded_findings(out.job_id);
        return out;
    }
    const auto path = normal(run_path);
    // The gate walks the run and may run an external validator for a while: not under the lock.
    lock.unlock();
    const auto outcome = evaluate_gate(collect_gate_inputs(path, eq->cfg), eq->cfg, from_watcher);
    lock.lock();
    if (!store) {
        out.error = make_error(errc::closed, "engine closed during enqueue");
        return out;
    }
    out.findings = outcome.findings;
    const auto t = now();
    const bool settling = !outcome.blocked() && outcome.settled_at > t;
    if (settling)
        note_waiting({eq->cfg.name, run_id, outcome.newest_mtime, outcome.settled_at});
    else
        clear_waiting(eq->cfg.name, run_id);
    if (from_watcher && settling) {
        if (settle_until) *settle_until = outcome.settled_at;
        return out;  // not yet: the watcher looks again when it has settled
    }
    out.state = outcome.blocked() ? queue::job_state::blocked_by_validation : queue::job_state::queued;
    std::string message;
    std::optional<queue::error_info> blocked_by;  // the job's last_error names the hard findings
    if (outcome.blocked()) {
        blocked_by =
            queue::error_info{std::string(queue::validation_error_kind), describe_blocking(outcome.findings)};
        message = "blocked by the pre-sync gate: " + blocked_by->text;
    } else {
        message = fmt::format(
            "enqueued ({}; {} files, {} bytes{})", from_watcher ? "marker" : "API", outcome.file_count,
            outcome.total_bytes,
            outcome.findings.empty() ? "" : fmt::format(", {} soft findings", outcome.findings.size()));
    }
    message += " findings=" + to_json(outcome.findings);
    auto created = store->create_job(eq->cfg.name, run_id, path.string(), out.state, message, blocked_by);
    if (!created) {
        if (created.code() == queue::errc::duplicate_live_job) {
            out.job_id = created.error().job_id;
            out.already_known = true;
            if (auto j = store->find(out.job_id)) out.state = j->state;
            return out;
        }
        out.error = from_store(created.error());
        return out;
    }
    out.job_id = created->id;
    if (blocked_by)
        log(log_level::warning, "{}/{}: job {} created as blocked_by_validation: {}", eq->cfg.name, run_id,
            out.job_id, blocked_by->text);
    else
        log(log_level::info, "{}/{}: job {} created as {}", eq->cfg.name, run_id, out.job_id,
            queue::to_string(out.state));
    const auto id = out.job_id;
    const auto name = eq->cfg.name;
    std::optional<queue::time_point> wait_until;
    if (out.state == queue::job_state::queued && outcome.settled_at > t) wait_until = outcome.settled_at;
    asio::post(strand, [this, id, name, wait_until] {
        if (auto* e = find_equipment(name)) {
            if (wait_until) e->not_before[id] = *wait_until;
            wake(*e);
        }
        notify_changed(id);
    });
    return out;
}

void engine::impl::notify_changed(std::int64_t job_id) {
    if (!deps.on_job_changed || !store) return;
    if (auto j = store->find(job_id)) deps.on_job_changed(*j);
}

void engine::impl::post_notify(std::int64_t job_id) {
    asio::post(strand, [this, job_id] { notify_changed(job_id); });
}

void engine::impl::wake(equipment_runtime& eq) {
    for (auto& t : eq.worker_timers) t->cancel();
}

void engine::impl::post_wake(const std::string& name) {
    asio::post(strand, [this, name] {
        if (auto* e = find_equipment(name)) wake(*e);
    });
}

std::optional<disk_space> engine::impl::space_of(const std::filesystem::path& path) const {
    if (deps.disk_space_of) return deps.disk_space_of(path);
    struct statvfs s {};
    if (::statvfs(path.c_str(), &s) != 0) return std::nullopt;
    return disk_space{static_cast<std::uint64_t>(s.f_bavail) * s.f_frsize,
                      static_cast<std::uint64_t>(s.f_blocks) * s.f_frsize};
}

bool engine::impl::under_watermark(const equipment_runtime& eq) const {
    const auto& w = eq.cfg.watermark;
    if (w.min_free_bytes == 0 && w.min_free_percent <= 0) return false;
    const auto space = space_of(eq.cfg.runs_root);
    if (!space) return false;
    if (w.min_free_bytes != 0 && space->free_bytes < w.min_free_bytes) return true;
    return w.min_free_percent > 0 && space->total_bytes > 0 &&
           static_cast<double>(space->free_bytes) * 100.0 / static_cast<double>(space->total_bytes) <
               w.min_free_percent;
}

asio::awaitable<bool> engine::impl::transition(std::int64_t job_id, queue::job_state to,
                                               queue::transition_details details) {
    // A write refused for a transient reason (another connection holding the write lock, the
    // disk holding the state dir full, an I/O error) changed nothing. Dropping the transition
    // would strand the job in its old state until a restart, so try again with backoff until it
    // is written or the engine stops (then the job is replayed from its old state on the next
    // open). Each try goes through the commit queue (group commit on the store's thread, which
    // for a busy lock first waits out SQLite's busy timeout); the strand stays free meanwhile and
    // between tries (a timer waits). The job keeps its worker and permit.
    auto delay = store_retry_first;
    for (int attempt = 1;; ++attempt) {
        if (!store) co_return false;
        queue::transition_request request{job_id, to, details};  // named: see commit()
        auto err = co_await commit(std::move(request));
        if (!err) break;
        if (!queue::is_transient(err.code) || stopping) {
            log(log_level::error, "job {}: transition to {} refused: {}", job_id, queue::to_string(to),
                err.message);
            co_return false;
        }
        log(log_level::warning, "job {}: transition to {} refused ({}), try {} again in {} ms: {}", job_id,
            queue::to_string(to), err.code.message(), attempt,
            std::chrono::duration_cast<std::chrono::milliseconds>(delay).count(), err.message);
        asio::steady_timer timer(strand);
        timer.expires_after(delay);
        boost::system::error_code ec;
        co_await (timer.async_wait(asio::redirect_error(asio::use_awaitable, ec)) || wait_stop());
        delay = std::min(delay * 2, store_retry_cap);
    }
    log(log_level::debug, "job {} -> {}: {}", job_id, queue::to_string(to), details.message);
    notify_changed(job_id);
    co_return true;
}

asio::awaitable<queue::store_error> engine::impl::commit(queue::transition_request request) {
    // Not a coroutine (GCC 12, see on_pool.hpp): the handler waits in the queue, shared because
    // the queue's callbacks are copyable; it resumes on its own executor (the strand).
    return asio::async_initiate<const asio::use_awaitable_t<>&, void(queue::store_error)>(
        [this](auto handler, queue::transition_request r) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            commits->submit(std::move(r), [h](queue::store_error err) {
                auto home = asio::get_associated_executor(*h);
                asio::dispatch(home, [h, err = std::move(err)]() mutable { std::move (*h)(std::move(err)); });
            });
        },
        asio::use_awaitable, std::move(request));
}

// --- public API -------------------------------------------------------------------------------

enqueue_result engine::enqueue(const std::filesystem::path& run_path) {
    return impl_->enqueue_blocking(run_path, false, nullptr);
}

asio::awaitable<enqueue_result> engine::async_enqueue(std::filesystem::path run_path) {
    auto* m = impl_.get();
    if (!m->pool) {
        enqueue_result r;
        r.error = make_error(errc::not_open, "engine is not open");
        co_return r;
    }
    auto pool_task = [m, run_path] { return m->enqueue_blocking(run_path, false, nullptr); };
    co_return co_await m->on_pool(std::move(pool_task));
}

std::optional<queue::job> engine::status(const std::filesystem::path& run_path) {
    auto& m = *impl_;
    std::string run_id;
    engine_error err;
    auto* eq = m.equipment_of(run_path, run_id, err);
    std::lock_guard lock(m.api_mutex);
    if (!eq || !m.store) return std::nullopt;
    if (auto live = m.store->find_live(eq->cfg.name, run_id); live && *live) return **live;
    // The newest job of the run (a cleaned one) when no live job holds it.
    queue::job_filter f;
    f.equipment = eq->cfg.name;
    f.run_id = run_id;
    f.newest_first = true;
    f.limit = 1;
    if (auto jobs = m.store->list(f); jobs && !jobs->empty()) return jobs->front();
    return std::nullopt;
}

std::vector<queue::job> engine::list(const queue::job_filter& filter) {
    std::lock_guard lock(impl_->api_mutex);
    if (!impl_->store) return {};
    auto jobs = impl_->store->list(filter);
    return jobs ? std::move(*jobs) : std::vector<queue::job>{};
}

std::vector<gate_finding> engine::impl::recorded_findings(std::int64_t job_id) {
    auto ev = store->events(job_id);
    if (!ev) return {};
    for (const auto& e : *ev)
        if (e.kind == queue::event_kind::created) return findings_from_event(e.message);
    return {};
}

std::vector<gate_finding> engine::findings(std::int64_t job_id) {
    std::lock_guard lock(impl_->api_mutex);
    return impl_->store ? impl_->recorded_findings(job_id) : std::vector<gate_finding>{};
}

std::vector<queue::job_event> engine::events(std::int64_t job_id) {
    std::lock_guard lock(impl_->api_mutex);
    if (!impl_->store) return {};
    auto ev = impl_->store->events(job_id);
    return ev ? std::move(*ev) : std::vector<queue::job_event>{};
}

engine_error engine::run() {
    auto& m = *impl_;
    if (!m.opened) return make_error(errc::not_open, "run(): the engine is not open (call open() first)");
    if (m.io.stopped()) m.io.restart();  // it ran out of work before: run() makes new work
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(m.io, async_run(), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    // One handler at a time until async_run() is back: other work on the io_context runs too.
    while (!done && m.io.run_one() > 0) {
    }
    if (failure) std::rethrow_exception(failure);  // a programming error, as from async_run()
    if (!done)
        return make_error(errc::closed, "run(): the io_context was stopped before the engine returned");
    return {};
}

void engine::close() {
    auto& m = *impl_;
    if (!m.opened) return;
    cancel();
    if (m.run_started && !m.run_finished && !m.strand.running_in_this_thread()) {
        // Bounded: if nobody runs the io_context any more, async_run() cannot finish.
        while (m.run_done_future.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
            if (m.io.stopped()) break;
    }
    if (!m.run_finished && m.run_started) return;  // still running: the caller closes again later
    if (m.pool) m.pool->join();
    std::lock_guard lock(m.api_mutex);
    m.inotify.reset();
    for (auto& [name, eq] : m.equipment) eq.transport.reset();
    m.commits.reset();  // writes what is still queued, joins the store thread
    m.store.reset();    // closes SQLite: the WAL is checkpointed
    m.opened = false;
    m.log(log_level::info, "engine closed");
}

}  // namespace labsync::engine
