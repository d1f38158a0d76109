// `syncd run`; see daemon.hpp for the threads. The only Asio translation unit of syncd's daemon
// part: it owns the io_context, spawns the engine and ticks the watchdog.
#include "daemon.hpp"

#include "admin_dispatch.hpp"
#include "admin_server.hpp"
#include "commands.hpp"
#include "daemon_config.hpp"
#include "daemon_state.hpp"
#include "logging.hpp"
#include "metrics_http.hpp"
#include "metrics_registry.hpp"
#include "notify.hpp"

#include "labsync/engine/engine.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <future>
#include <thread>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;

namespace labsync::apps {

load_result load_and_validate(const std::filesystem::path& path);  // cmd_config.cpp

namespace {

bool configured(const daemon_config& config, const std::string& equipment) {
    for (const auto& e : config.engine.equipment)
        if (e.name == equipment) return true;
    return false;
}

class daemon {
public:
    daemon(const run_options& options, daemon_config config, std::shared_ptr<spdlog::logger> logger)
        : options_(options),
          config_(std::move(config)),
          logger_(std::move(logger)),
          state_(config_.daemon.watchdog_stall) {}

    int run();

private:
    engine::engine_deps make_deps();
    engine::engine_error start_engine(const daemon_config& config);
    // Cancels the engine and waits (bounded) for its workers; false when they did not stop in time.
    bool stop_engine(std::chrono::milliseconds grace);
    void reload();
    void schedule_tick();
    void on_tick();
    std::string status_line();
    bool queued_overdue();
    admin_response on_admin(const admin_request& request, const admin_peer& peer);
    std::string render_metrics();
    daemon_info info() const;

    run_options options_;
    daemon_config config_;
    std::shared_ptr<spdlog::logger> logger_;
    engine::log_fn log_ = engine_log_to(logger_);
    asio::io_context io_{1};
    std::optional<asio::steady_timer> tick_timer_;
    std::chrono::milliseconds tick_interval_{1000};
    systemd_notifier notifier_;
    daemon_state state_;
    metrics_registry metrics_;
    progress_tracker progress_;

    std::mutex engine_mutex_;  // guards engine_ (swapped on reload) and its store
    std::unique_ptr<engine::engine> engine_;
    std::shared_future<void> engine_done_;
    std::atomic<bool> ready_{false};
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::string last_status_;
    std::chrono::steady_clock::time_point last_status_at_{};
};

engine::engine_deps daemon::make_deps() {
    engine::engine_deps deps;
    deps.log = log_;
    // Both callbacks run on the io thread, as does on_tick(): daemon_state needs no lock there.
    deps.on_job_changed = [this](const queue::job& job) {
        metrics_.on_job_changed(job);
        if (job.state != queue::job_state::running && job.state != queue::job_state::awaiting_verify)
            progress_.forget(job.id);
        state_.on_job_changed(job, std::chrono::steady_clock::now());
    };
    deps.on_progress = [this](const engine::progress_event& e) {
        auto now = std::chrono::steady_clock::now();
        // Every phase feeds the watchdog: a long manifest or pack is work, not a stall.
        progress_.update(e.job_id, e.done, e.total, now, engine::to_string(e.phase));
        state_.on_progress(now);
    };
    return deps;
}

engine::engine_error daemon::start_engine(const daemon_config& config) {
    auto eng = std::make_unique<engine::engine>(io_, config.engine, make_deps());
    if (auto err = eng->open()) return err;
    // Jobs the replay left running or awaiting verification count as active from the start, if
    // this configuration has a worker for them: a removed equipment's jobs never move.
    std::vector<queue::job> active;
    if (auto* store = eng->store())
        for (auto s : {queue::job_state::running, queue::job_state::awaiting_verify})
            if (auto jobs = store->jobs_in_state(s))
                for (auto& j : *jobs)
                    if (configured(config, j.equipment)) active.push_back(std::move(j));
    auto promise = std::make_shared<std::promise<void>>();
    engine_done_ = promise->get_future().share();
    asio::post(io_, [this, active] { state_.reset(active, std::chrono::steady_clock::now()); });
    asio::co_spawn(io_, eng->async_run(), [this, promise](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log_(engine::log_level::error,
                     fmt::format("engine stopped with an exception: {}", ex.what()));
            }
        }
        promise->set_value();
    });
    engine_ = std::move(eng);
    return {};
}

bool daemon::stop_engine(std::chrono::milliseconds grace) {
    if (!engine_) return true;
    engine_->cancel();
    bool stopped = engine_done_.wait_for(grace) == std::future_status::ready;
    if (!stopped) return false;
    engine_->close();
    engine_.reset();
    return true;
}

std::string daemon::status_line() {
    std::unique_lock lock(engine_mutex_, std::try_to_lock);
    if (!lock || !engine_ || !engine_->store()) return last_status_;
    auto counts = engine_->store()->counts();
    if (!counts) return last_status_;
    std::map<queue::job_state, std::int64_t> totals;
    for (const auto& [eq, by_state] : *counts)
        for (const auto& [s, n] : by_state) totals[s] += n;
    std::string line;
    for (auto s : {queue::job_state::queued, queue::job_state::running, queue::job_state::awaiting_verify,
                   queue::job_state::verified, queue::job_state::cleaned, queue::job_state::failed,
                   queue::job_state::blocked_by_validation}) {
        if (!line.empty()) line += ", ";
        line += fmt::format("{} {}", queue::to_string(s), totals[s]);
    }
    return line;
}

// A queued job that has been due for longer than watchdog_stall counts as active work: if the
// engine never starts it (and nothing else moves), the watchdog stops as it would for a hung
// transport. Runs on the io thread; skipped while main holds the engine (reload, shutdown).
bool daemon::queued_overdue() {
    std::unique_lock lock(engine_mutex_, std::try_to_lock);
    if (!lock || !engine_ || !engine_->store()) return false;
    auto queued = engine_->store()->jobs_in_state(queue::job_state::queued);
    if (!queued) return false;
    // A job may legitimately wait for its run to settle before it is started.
    std::chrono::seconds settle{0};
    for (const auto& e : config_.engine.equipment) settle = std::max(settle, e.settle);
    auto limit = std::chrono::system_clock::now() - config_.daemon.watchdog_stall - settle;
    // A job of an equipment no longer configured has no worker: it waits for the operator
    // (`syncd cancel`, or the equipment back in the config), not for the engine.
    for (const auto& j : *queued)
        if (configured(config_, j.equipment) && j.next_attempt_at.value_or(j.updated_at) < limit) return true;
    return false;
}

void daemon::schedule_tick() {
    tick_timer_->expires_after(tick_interval_);
    tick_timer_->async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        on_tick();
        schedule_tick();
    });
}

// Runs on the io thread: reaching here at all proves the event loop is alive.
void daemon::on_tick() {
    auto now = std::chrono::steady_clock::now();
    auto stalled = state_.stalled_for(now);
    bool was_stalled = state_.stalled.exchange(stalled.has_value());
    if (stalled) {
        if (!was_stalled)
            log_(engine::log_level::error,
                 fmt::format(
                     "active jobs made no progress for {} s (watchdog_stall {} s): withholding WATCHDOG=1 "
                     "so systemd restarts syncd",
                     stalled->count() / 1000, config_.daemon.watchdog_stall.count() / 1000));
    } else {
        if (was_stalled) log_(engine::log_level::info, "jobs are moving again; watchdog pings resumed");
        if (ready_) notifier_.watchdog();
    }
    if (ready_ && now - last_status_at_ >= std::chrono::seconds(2)) {
        last_status_at_ = now;
        state_.set_due_waiting(queued_overdue(), now);
        std::string line = status_line();
        if (stalled) line = "STALLED: " + line;
        if (line != last_status_) {
            last_status_ = line;
            notifier_.status(line);
        }
    }
}

daemon_info daemon::info() const {
    return {
        static_cast<int>(::getpid()),
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count(),
        config_.source.string(), ready_.load()};
}

admin_response daemon::on_admin(const admin_request& request, const admin_peer& peer) {
    std::lock_guard lock(engine_mutex_);
    admin_context context;
    context.peer_user = peer.user;
    context.engine = engine_.get();
    context.daemon = info();
    for (const auto& e : config_.engine.equipment) context.equipment.push_back(e.name);
    context.progress = &progress_;
    if (request.op != admin_op::status && request.op != admin_op::list && request.op != admin_op::show)
        log_(engine::log_level::info, fmt::format("admin: {} from {} (uid {}, pid {})",
                                                  encode_request(request), peer.user, peer.uid, peer.pid));
    return dispatch_admin(request, context);
}

std::string daemon::render_metrics() {
    scrape_sample sample;
    {
        std::lock_guard lock(engine_mutex_);
        for (const auto& e : config_.engine.equipment) sample.equipment.push_back(e.name);
        if (engine_ && engine_->store()) {
            auto* store = engine_->store();
            if (auto counts = store->counts()) sample.counts = *counts;
            if (auto queued = store->jobs_in_state(queue::job_state::queued)) {
                auto now = std::chrono::system_clock::now();
                for (const auto& j : *queued) {
                    double age = std::chrono::duration<double>(now - j.created_at).count();
                    double& slot = sample.oldest_queued_age_s[j.equipment];
                    slot = std::max(slot, age);
                }
            }
        }
        std::vector<std::filesystem::path> paths{config_.engine.state_dir};
        for (const auto& e : config_.engine.equipment) paths.push_back(e.runs_root);
        for (const auto& p : paths) {
            std::error_code ec;
            auto space = std::filesystem::space(p, ec);
            if (!ec) sample.disks.push_back({p.string(), space.available, space.capacity});
        }
    }
    sample.watchdog_stalled = state_.stalled.load();
    sample.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return metrics_.render(sample);
}

void daemon::reload() {
    log_(engine::log_level::info, fmt::format("SIGHUP: reloading {}", options_.config_path.string()));
    load_result next = load_and_validate(options_.config_path);
    if (!next.ok()) {
        for (const auto& e : next.errors) log_(engine::log_level::error, "reload refused: " + e.to_string());
        metrics_.on_config_reload(false);
        notifier_.status(fmt::format("reload refused ({} errors), running the previous configuration",
                                     next.errors.size()));
        return;
    }
    for (const auto& w : next.warnings) log_(engine::log_level::warning, w.to_string());
    const auto& old_d = config_.daemon;
    const auto& new_d = next.config.daemon;
    if (next.config.engine.state_dir != config_.engine.state_dir) {
        log_(engine::log_level::error,
             "reload refused: state_dir cannot change while running (restart syncd)");
        metrics_.on_config_reload(false);
        return;
    }
    if (new_d.admin_socket != old_d.admin_socket || new_d.metrics_listen != old_d.metrics_listen ||
        new_d.admin_socket_group != old_d.admin_socket_group ||
        new_d.admin_socket_mode != old_d.admin_socket_mode)
        log_(engine::log_level::warning,
             "reload: admin socket and metrics settings apply at the next restart");
    notifier_.reloading();
    std::lock_guard lock(engine_mutex_);
    if (!stop_engine(config_.daemon.shutdown_grace)) {
        // The old engine is cancelled but stuck (a hung transport): neither configuration can run
        // in this process. Every transition is durable, so exit and let systemd restart us.
        log_(engine::log_level::error,
             "reload: the engine did not stop within shutdown_grace; exiting for a restart");
        std::fflush(nullptr);
        std::_Exit(exit_failed);
    }
    if (auto err = start_engine(next.config)) {
        log_(engine::log_level::error,
             fmt::format("reload refused: {}; restarting the previous configuration", err.message));
        metrics_.on_config_reload(false);
        if (auto again = start_engine(config_))
            log_(engine::log_level::error,
                 fmt::format("previous configuration failed too: {}", again.message));
        notifier_.reloaded("reload refused, running the previous configuration");
        return;
    }
    set_logger_level(*logger_, options_.log_level_override.value_or(new_d.log_level));
    config_.engine = next.config.engine;
    config_.daemon.log_level = new_d.log_level;
    config_.daemon.watchdog_stall = new_d.watchdog_stall;
    config_.daemon.shutdown_grace = new_d.shutdown_grace;
    asio::post(io_, [this, stall = new_d.watchdog_stall] { state_.set_stall(stall); });
    metrics_.on_config_reload(true);
    notifier_.reloaded("reloaded");
    log_(engine::log_level::info, fmt::format("reloaded: {} equipment", config_.engine.equipment.size()));
}

int daemon::run() {
    if (auto w = notifier_.watchdog_interval())
        tick_interval_ = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*w / 3),
                                    std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
    tick_timer_.emplace(io_);
    auto work = asio::make_work_guard(io_);
    std::thread io_thread([this] { io_.run(); });
    auto finish_io = [&] {
        work.reset();
        io_.stop();
        io_thread.join();
    };
    {
        std::lock_guard lock(engine_mutex_);
        if (auto err = start_engine(config_)) {
            logger_->error("cannot start: {}", err.message);
            finish_io();
            return err.code == engine::errc::invalid_config ? exit_usage : exit_failed;
        }
    }
    admin_server admin([this](const admin_request& r, const admin_peer& p) { return on_admin(r, p); }, log_);
    if (auto err = admin.open(config_.daemon.admin_socket, config_.daemon.admin_socket_mode,
                              config_.daemon.admin_socket_group);
        !err.empty()) {
        logger_->error("cannot start: {}", err);
        {
            std::lock_guard lock(engine_mutex_);
            stop_engine(config_.daemon.shutdown_grace);
        }
        finish_io();
        return exit_failed;
    }
    metrics_http metrics_server([this] { return render_metrics(); }, log_);
    if (!config_.daemon.metrics_listen.empty()) {
        if (auto err = metrics_server.open(config_.daemon.metrics_listen); !err.empty()) {
            logger_->error("cannot start: {}", err);
            admin.stop();
            {
                std::lock_guard lock(engine_mutex_);
                stop_engine(config_.daemon.shutdown_grace);
            }
            finish_io();
            return exit_failed;
        }
        metrics_server.start();
    }
    admin.start();
    asio::post(io_, [this] { schedule_tick(); });
    ready_ = true;
    notifier_.ready(status_line());
    logger_->info("ready: {} equipment, admin socket {}{}", config_.engine.equipment.size(),
                  config_.daemon.admin_socket.string(),
                  config_.daemon.metrics_listen.empty()
                      ? ""
                      : fmt::format(", metrics http://{}/metrics", metrics_server.bound_address()));
    // Tests and scripts wait for this line (the metrics port may have been 0).
    std::printf("syncd ready admin=%s metrics=%s\n", config_.daemon.admin_socket.c_str(),
                config_.daemon.metrics_listen.empty() ? "off" : metrics_server.bound_address().c_str());
    std::fflush(stdout);

    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    int sig = 0;
    while (true) {
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            reload();
            continue;
        }
        break;
    }
    auto begin = std::chrono::steady_clock::now();
    logger_->info("{}: stopping (no new work; in-flight jobs are checkpointed)",
                  sig == SIGTERM ? "SIGTERM" : "SIGINT");
    notifier_.stopping("stopping");
    admin.stop();  // stop taking work first
    bool clean = true;
    {
        std::lock_guard lock(engine_mutex_);
        clean = stop_engine(config_.daemon.shutdown_grace);
    }
    metrics_server.stop();
    if (!clean) {
        // The store is durable at every transition: whatever was in flight is replayed next start.
        logger_->warn("engine did not stop within {} s; exiting anyway (running jobs replay as queued)",
                      config_.daemon.shutdown_grace.count() / 1000);
        std::fflush(nullptr);
        std::_Exit(0);
    }
    tick_timer_->cancel();
    finish_io();
    logger_->info("stopped in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - begin)
                                          .count());
    return 0;
}

}  // namespace

int run_daemon(const run_options& options) {
    // Block the signals before any thread exists so that only sigwait() in main sees them.
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    load_result loaded = load_and_validate(options.config_path);
    if (!loaded.ok()) {
        std::fprintf(stderr, "%s", format_errors(loaded.errors).c_str());
        std::fprintf(stderr, "syncd: %s is not valid (%zu errors); not starting\n",
                     options.config_path.c_str(), loaded.errors.size());
        return exit_usage;
    }
    auto& d = loaded.config.daemon;
    auto logger = make_daemon_logger(options.log_format_override.value_or(d.log_format_value),
                                     options.log_level_override.value_or(d.log_level));
    for (const auto& w : loaded.warnings) logger->warn("{}", w.to_string());
    daemon instance(options, std::move(loaded.config), logger);
    return instance.run();
}

}  // namespace labsync::apps
