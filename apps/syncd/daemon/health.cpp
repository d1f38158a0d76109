// See health.hpp.
#include "daemon/health.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <fmt/format.h>

#include <unistd.h>
#include <algorithm>
#include <map>

namespace labsync::apps {
namespace {

bool configured(const engine::engine_config& config, const std::string& equipment) {
    return std::any_of(config.equipment.begin(), config.equipment.end(),
                       [&](const auto& e) { return e.name == equipment; });
}

}  // namespace

health::health(boost::asio::io_context& io, engine_host& host, systemd_notifier& notifier, common::log_fn log,
               std::chrono::milliseconds stall)
    : io_(io),
      host_(host),
      notifier_(notifier),
      log_(std::move(log)),
      tick_timer_(io),
      stall_(stall),
      state_(stall) {
    if (auto w = notifier_.watchdog_interval())
        tick_interval_ = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*w / 3),
                                    std::chrono::milliseconds(100), std::chrono::milliseconds(1000));
}

void health::observe(engine::engine_deps& deps) {
    // Both callbacks run on the io thread, as does on_tick(): daemon_state needs no lock there.
    deps.on_job_changed = [this](const queue::job& job) {
        metrics_.on_job_changed(job);
        if (job.state != queue::job_state::running && job.state != queue::job_state::awaiting_verify)
            progress_.forget(job.id);
        if (job.state != queue::job_state::running) throughput_.forget(job.id);
        state_.on_job_changed(job, std::chrono::steady_clock::now());
    };
    deps.on_progress = [this](const engine::progress_event& e) {
        auto now = std::chrono::steady_clock::now();
        // Every phase feeds the watchdog: a long manifest or pack is work, not a stall.
        progress_.update(e.job_id, e.done, e.total, now, engine::to_string(e.phase));
        if (e.phase == engine::progress_phase::uploading)
            throughput_.on_upload_progress(e.job_id, e.done, now);
        state_.on_progress(now);
    };
}

void health::on_engine_opened(engine::engine& eng, const engine::engine_config& config) {
    // A removed equipment's jobs never move: only configured ones are active.
    std::vector<queue::job> active;
    for (auto s : {queue::job_state::running, queue::job_state::awaiting_verify})
        for (auto& j : eng.jobs_in_state(s).value)
            if (configured(config, j.equipment)) active.push_back(std::move(j));
    boost::asio::post(io_, [this, active] { state_.reset(active, std::chrono::steady_clock::now()); });
}

void health::ready() {
    boost::asio::post(io_, [this] { schedule_tick(); });
    ready_ = true;
    notifier_.ready(status_line());
}

void health::stop() {
    boost::asio::post(io_, [this] { tick_timer_.cancel(); });
}

void health::set_stall(std::chrono::milliseconds stall) {
    boost::asio::post(io_, [this, stall] {
        stall_ = stall;
        state_.set_stall(stall);
    });
}

std::int64_t health::uptime_s() const {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
        .count();
}

std::string health::status_line() {
    auto counts = host_.try_with([](engine::engine* eng, const engine::engine_config&) {
        auto c = eng ? eng->counts() : engine::query_result<queue::state_counts>{};
        return eng && !c.error ? std::optional(std::move(c.value)) : std::nullopt;
    });
    if (!counts || !*counts) return last_status_;
    std::map<queue::job_state, std::int64_t> totals;
    for (const auto& [eq, by_state] : **counts)
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
// transport. Runs on the io thread; skipped while the engine slot is busy (reload, shutdown).
bool health::queued_overdue() {
    auto overdue = host_.try_with([this](engine::engine* eng, const engine::engine_config& config) {
        if (!eng) return false;
        auto queued = eng->jobs_in_state(queue::job_state::queued);
        if (queued.error) return false;
        // A job may legitimately wait for its run to settle before it is started.
        std::chrono::seconds settle{0};
        for (const auto& e : config.equipment) settle = std::max(settle, e.settle);
        auto limit = std::chrono::system_clock::now() - stall_ - settle;
        // A job of an equipment no longer configured has no worker: it waits for the operator
        // (`syncd cancel`, or the equipment back in the config), not for the engine.
        return std::any_of(queued.value.begin(), queued.value.end(), [&](const queue::job& j) {
            return configured(config, j.equipment) && j.next_attempt_at.value_or(j.updated_at) < limit;
        });
    });
    return overdue.value_or(false);
}

void health::schedule_tick() {
    tick_timer_.expires_after(tick_interval_);
    tick_timer_.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        on_tick();
        schedule_tick();
    });
}

// Runs on the io thread: reaching here at all proves the event loop is alive.
void health::on_tick() {
    auto now = std::chrono::steady_clock::now();
    auto stalled = state_.stalled_for(now);
    bool was_stalled = state_.stalled.exchange(stalled.has_value());
    if (stalled) {
        if (!was_stalled && log_)
            log_(common::log_level::error,
                 fmt::format(
                     "active jobs made no progress for {} s (watchdog_stall {} s): withholding WATCHDOG=1 "
                     "so systemd restarts syncd",
                     stalled->count() / 1000, stall_.count() / 1000));
    } else {
        if (was_stalled && log_)
            log_(common::log_level::info, "jobs are moving again; watchdog pings resumed");
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

std::string health::render_metrics() {
    scrape_sample sample = host_.with([](engine::engine* eng, const engine::engine_config& config) {
        scrape_sample s;
        for (const auto& e : config.equipment) s.equipment.push_back(e.name);
        if (eng) {
            if (auto counts = eng->counts(); !counts.error) s.counts = std::move(counts.value);
            auto now = std::chrono::system_clock::now();
            for (const auto& j : eng->jobs_in_state(queue::job_state::queued).value) {
                double age = std::chrono::duration<double>(now - j.created_at).count();
                double& slot = s.oldest_queued_age_s[j.equipment];
                slot = std::max(slot, age);
            }
        }
        std::vector<std::filesystem::path> paths{config.state_dir};
        for (const auto& e : config.equipment) paths.push_back(e.runs_root);
        for (const auto& p : paths) {
            std::error_code ec;
            auto space = std::filesystem::space(p, ec);
            if (!ec) s.disks.push_back({p.string(), space.available, space.capacity});
        }
        return s;
    });
    sample.watchdog_stalled = state_.stalled.load();
    sample.uptime_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    return metrics_.render(sample);
}

}  // namespace labsync::apps
