// `syncd run`: the daemon's lifecycle (signals, reload, the engine slot, one shutdown path); its
// health side (watchdog, status line, metrics) is health.cpp, the side servers are admin/ and
// metrics/. See daemon.hpp for the threads.
#include "daemon/daemon.hpp"

#include "admin/admin_audit.hpp"
#include "admin/admin_dispatch.hpp"
#include "admin/admin_server.hpp"
#include "cli/commands.hpp"
#include "daemon/engine_host.hpp"
#include "daemon/health.hpp"
#include "daemon/notify.hpp"
#include "daemon/outcome_log.hpp"
#include "daemon_config.hpp"
#include "logging.hpp"
#include "metrics/metrics_http.hpp"
#include "metrics/status_page.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include <fmt/format.h>
#include <spdlog/logger.h>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <thread>

namespace asio = boost::asio;

namespace labsync::apps {

load_result load_and_validate(const std::filesystem::path& path);  // cmd_config.cpp

namespace {

// How the signal loop ended: the exit code, and what to log when it is not a plain stop.
struct stop_reason {
    int code = exit_ok;
    std::string why;
};

class daemon {
public:
    daemon(const run_options& options, daemon_config config, std::shared_ptr<spdlog::logger> logger)
        : options_(options),
          config_(std::move(config)),
          logger_(std::move(logger)),
          host_(io_, log_),
          health_(io_, host_, notifier_, log_, config_.daemon.watchdog_stall) {}

    int run();

private:
    engine::engine_error start_engine(const engine::engine_config& config);
    // Opens the admin socket and /metrics; an operator-facing error, empty on success.
    std::string open_servers();
    // SIGHUP: false when the old engine did not stop (the daemon must exit for a restart).
    bool reload();
    stop_reason wait_for_stop();
    // The one shutdown path: stop taking work, stop the engine within shutdown_grace, stop the
    // servers and the io thread. Returns `code`, or exits the process at once when the engine is
    // stuck (the only _Exit: see there).
    int shut_down(int code);
    admin_response on_admin(const admin_request& request, const admin_peer& peer);
    // What an admin request sees of the daemon (under the engine slot's lock).
    admin_context context_of(engine::engine* eng, const engine::engine_config& config) const;
    // The status page's data (metrics/status_page.hpp); the handler pool.
    nlohmann::json status_page();

    run_options options_;
    daemon_config config_;  // main thread
    std::shared_ptr<spdlog::logger> logger_;
    common::log_fn log_ = engine_log_to(logger_);
    common::log_record_fn record_ = record_log_to(logger_);  // outcome and admin lines, with fields
    asio::io_context io_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::thread io_thread_;
    asio::thread_pool handlers_{2};  // admin requests and scrapes (they block on the engine)
    systemd_notifier notifier_;
    engine_host host_;
    health health_;
    std::optional<admin_server> admin_;
    std::optional<metrics_http> metrics_;
    const std::string config_source_ = config_.source.string();  // for status, from any thread
};

engine::engine_error daemon::start_engine(const engine::engine_config& config) {
    engine::engine_deps deps;
    deps.log = log_;
    health_.observe(deps);
    deps.on_job_changed = [observed = std::move(deps.on_job_changed), this](const queue::job& job) {
        observed(job);
        if (auto line = outcome_line(job)) record_(line->level, line->message, line->fields);
    };
    return host_.start(config, std::move(deps),
                       [this, &config](engine::engine& eng) { health_.on_engine_opened(eng, config); });
}

std::string daemon::open_servers() {
    admin_.emplace([this](const admin_request& r, const admin_peer& p) { return on_admin(r, p); }, log_,
                   handlers_);
    if (auto err = admin_->open(config_.daemon.admin_socket, config_.daemon.admin_socket_mode,
                                config_.daemon.admin_socket_group);
        !err.empty())
        return err;
    if (!config_.daemon.metrics_listen.empty()) {
        metrics_.emplace([this] { return health_.render_metrics(); }, log_, handlers_);
        if (auto err = metrics_->open(config_.daemon.metrics_listen); !err.empty()) return err;
        metrics_->serve_status_page([this] { return status_page(); });
        metrics_->start();
    }
    admin_->start();
    return {};
}

admin_response daemon::on_admin(const admin_request& request, const admin_peer& peer) {
    auto response = host_.with([&](engine::engine* eng, const engine::engine_config& config) {
        admin_context context = context_of(eng, config);
        context.peer_user = peer.user;
        return dispatch_admin(request, context);
    });
    if (auto line =
            admin_action_line(request, {peer.user, static_cast<unsigned>(peer.uid), peer.pid}, response))
        record_(line->level, line->message, line->fields);
    return response;
}

admin_context daemon::context_of(engine::engine* eng, const engine::engine_config& config) const {
    admin_context context;
    context.engine = eng;
    context.daemon = {static_cast<int>(::getpid()), health_.uptime_s(), config_source_, health_.is_ready()};
    for (const auto& e : config.equipment) context.equipment.push_back(e.name);
    context.progress = &health_.progress();
    return context;
}

nlohmann::json daemon::status_page() {
    // The same document as `syncd status --json`, plus what only the page shows.
    return host_.with([&](engine::engine* eng, const engine::engine_config& config) {
        admin_response status = dispatch_admin({.op = admin_op::status}, context_of(eng, config));
        return status_page_json(status, eng, config,
                                health_.throughput().per_minute(std::chrono::steady_clock::now()));
    });
}

bool daemon::reload() {
    log_(common::log_level::info, fmt::format("SIGHUP: reloading {}", options_.config_path.string()));
    load_result next = load_and_validate(options_.config_path);
    if (!next.ok()) {
        for (const auto& e : next.errors) log_(common::log_level::error, "reload refused: " + e.to_string());
        health_.metrics().on_config_reload(false);
        notifier_.status(fmt::format("reload refused ({} errors), running the previous configuration",
                                     next.errors.size()));
        return true;
    }
    for (const auto& w : next.warnings) log_(common::log_level::warning, w.to_string());
    const auto& old_d = config_.daemon;
    const auto& new_d = next.config.daemon;
    if (next.config.engine.state_dir != config_.engine.state_dir) {
        log_(common::log_level::error,
             "reload refused: state_dir cannot change while running (restart syncd)");
        health_.metrics().on_config_reload(false);
        return true;
    }
    if (new_d.admin_socket != old_d.admin_socket || new_d.metrics_listen != old_d.metrics_listen ||
        new_d.admin_socket_group != old_d.admin_socket_group ||
        new_d.admin_socket_mode != old_d.admin_socket_mode)
        log_(common::log_level::warning,
             "reload: admin socket and metrics settings apply at the next restart");
    notifier_.reloading();
    // The store's owner lock allows one engine at a time: the old one checkpoints first.
    if (!host_.stop(config_.daemon.shutdown_grace)) return false;
    if (auto err = start_engine(next.config.engine)) {
        log_(common::log_level::error,
             fmt::format("reload refused: {}; restarting the previous configuration", err.message));
        health_.metrics().on_config_reload(false);
        if (auto again = start_engine(config_.engine))
            log_(common::log_level::error,
                 fmt::format("previous configuration failed too: {}", again.message));
        notifier_.reloaded("reload refused, running the previous configuration");
        return true;
    }
    set_logger_level(*logger_, options_.log_level_override.value_or(new_d.log_level));
    config_.engine = next.config.engine;
    config_.daemon.log_level = new_d.log_level;
    config_.daemon.watchdog_stall = new_d.watchdog_stall;
    config_.daemon.shutdown_grace = new_d.shutdown_grace;
    health_.set_stall(new_d.watchdog_stall);
    health_.metrics().on_config_reload(true);
    notifier_.reloaded("reloaded");
    log_(common::log_level::info, fmt::format("reloaded: {} equipment", config_.engine.equipment.size()));
    return true;
}

// Signals are blocked in every thread (run_daemon); main takes them here, synchronously.
stop_reason daemon::wait_for_stop() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
    int sig = 0;
    while (true) {
        if (sigwait(&set, &sig) != 0) continue;
        if (sig != SIGHUP) break;
        if (!reload())
            // The old engine is cancelled but stuck (a hung transport): neither configuration can
            // run in this process. Every transition is durable: exit and let systemd restart us.
            return {exit_failed,
                    "reload: the engine did not stop within shutdown_grace; exiting for a restart"};
    }
    logger_->info("{}: stopping (no new work; in-flight jobs are checkpointed)",
                  sig == SIGTERM ? "SIGTERM" : "SIGINT");
    return {exit_ok, {}};
}

int daemon::shut_down(int code) {
    auto begin = std::chrono::steady_clock::now();
    notifier_.stopping("stopping");
    if (admin_) admin_->stop();  // stop taking work first
    bool clean = host_.stop(config_.daemon.shutdown_grace);
    if (metrics_) metrics_->stop();
    health_.stop();
    if (!clean) {
        // The engine was cancelled but its coroutines or CPU work never returned (a hung transport
        // or syscall): it cannot be destroyed, and neither can the io thread and pool it blocks.
        // The store is durable at every transition, so whatever was in flight is replayed at the
        // next start; end the process without unwinding. The daemon's only _Exit.
        logger_->warn("engine did not stop within {} s; exiting anyway (running jobs replay as queued)",
                      config_.daemon.shutdown_grace.count() / 1000);
        std::fflush(nullptr);
        std::_Exit(code);
    }
    // After the tick's cancel (posted first): whatever a transport may still have pending on the
    // io_context is dropped with it.
    asio::post(io_, [this] { io_.stop(); });
    work_.reset();
    io_thread_.join();
    handlers_.join();
    logger_->info("stopped in {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - begin)
                                          .count());
    return code;
}

int daemon::run() {
    io_thread_ = std::thread([this] { io_.run(); });
    if (auto err = start_engine(config_.engine)) {
        logger_->error("cannot start: {}", err.message);
        return shut_down(err.code == engine::errc::invalid_config ? exit_usage : exit_failed);
    }
    if (auto err = open_servers(); !err.empty()) {
        logger_->error("cannot start: {}", err);
        return shut_down(exit_failed);
    }
    health_.ready();
    logger_->info("ready: {} equipment, admin socket {}{}", config_.engine.equipment.size(),
                  config_.daemon.admin_socket.string(),
                  metrics_ ? fmt::format(", metrics http://{0}/metrics, status page http://{0}/",
                                         metrics_->bound_address())
                           : "");
    // Tests and scripts wait for this line (the metrics port may have been 0).
    std::printf("syncd ready admin=%s metrics=%s\n", config_.daemon.admin_socket.c_str(),
                metrics_ ? metrics_->bound_address().c_str() : "off");
    std::fflush(stdout);
    auto reason = wait_for_stop();
    if (!reason.why.empty()) log_(common::log_level::error, reason.why);
    return shut_down(reason.code);
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
