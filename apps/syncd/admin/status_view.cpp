// Status document and its text rendering; see status_view.hpp.
#include "admin/status_view.hpp"

#include "admin/admin_protocol.hpp"

#include "labsync/engine/gate.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace labsync::apps {

using nlohmann::json;

void progress_tracker::update(std::int64_t job_id, std::uint64_t done, std::uint64_t total,
                              std::chrono::steady_clock::time_point now, std::string_view phase) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = jobs_.try_emplace(job_id);
    job_progress& p = it->second;
    if (!inserted && p.phase != phase) {
        p = job_progress{};
        inserted = true;
    }
    if (inserted) p.phase = std::string(phase);  // a new entry, or one reset for a new phase
    if (!inserted && done >= p.done && now > p.last_update) {
        double seconds = std::chrono::duration<double>(now - p.last_update).count();
        double instant = static_cast<double>(done - p.done) / seconds;
        // Exponential smoothing over roughly the last few seconds keeps the ETA from jumping.
        double alpha = std::min(1.0, seconds / 3.0);
        p.rate_bps = p.rate_bps == 0 ? instant : p.rate_bps + alpha * (instant - p.rate_bps);
    }
    p.done = done;
    p.total = total;
    p.last_update = now;
}

void progress_tracker::forget(std::int64_t job_id) {
    std::lock_guard lock(mutex_);
    jobs_.erase(job_id);
}

std::map<std::int64_t, job_progress> progress_tracker::snapshot() const {
    std::lock_guard lock(mutex_);
    return jobs_;
}

namespace {

json zero_counts() {
    json j = json::object();
    for (queue::job_state s : queue::all_job_states) j[std::string(queue::to_string(s))] = 0;
    return j;
}

}  // namespace

json status_json(const daemon_info& daemon, const std::vector<std::string>& equipment,
                 const queue::state_counts& counts, const std::vector<queue::job>& current,
                 const std::map<std::int64_t, job_progress>& progress) {
    json out{{"version", 1}};
    out["daemon"] = {{"pid", daemon.pid},
                     {"uptime_s", daemon.uptime_s},
                     {"config", daemon.config},
                     {"ready", daemon.ready}};
    json totals = zero_counts();
    // Equipment in the config first (in config order), then any that only has old jobs.
    std::vector<std::string> names = equipment;
    for (const auto& [name, _] : counts)
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    json list = json::array();
    for (const auto& name : names) {
        json e{{"name", name},
               {"configured", std::find(equipment.begin(), equipment.end(), name) != equipment.end()}};
        json c = zero_counts();
        if (auto it = counts.find(name); it != counts.end())
            for (const auto& [state, n] : it->second) {
                std::string key(queue::to_string(state));
                c[key] = n;
                totals[key] = totals[key].get<std::int64_t>() + n;
            }
        e["counts"] = c;
        json cur = json::array();
        for (const auto& job : current) {
            if (job.equipment != name) continue;
            json j = job_json(job);
            if (auto p = progress.find(job.id); p != progress.end()) {
                std::optional<std::int64_t> eta;
                if (p->second.total > p->second.done && p->second.rate_bps > 1)
                    eta = static_cast<std::int64_t>(std::ceil(
                        static_cast<double>(p->second.total - p->second.done) / p->second.rate_bps));
                j["progress"] = {{"phase", p->second.phase},
                                 {"done", p->second.done},
                                 {"total", p->second.total},
                                 {"rate_bps", std::round(p->second.rate_bps)},
                                 {"eta_s", eta ? json(*eta) : json(nullptr)}};
            } else {
                j["progress"] = nullptr;
            }
            cur.push_back(std::move(j));
        }
        e["current"] = std::move(cur);
        list.push_back(std::move(e));
    }
    out["totals"] = totals;
    out["equipment"] = std::move(list);
    return out;
}

void add_waiting_runs(json& status, const std::vector<engine::settle_wait>& waiting, queue::time_point now) {
    if (!status.contains("equipment")) return;
    for (json& e : status["equipment"]) {
        json list = json::array();
        for (const auto& w : waiting)
            if (w.equipment == e.value("name", std::string()))
                list.push_back({{"run_id", w.run_id},
                                {"newest_mtime", iso_time(w.newest_mtime)},
                                {"settled_at", iso_time(w.settled_at)},
                                {"reason", engine::describe_settle_wait(w.newest_mtime, w.settled_at, now)}});
        e["waiting"] = std::move(list);
    }
}

std::string human_bytes(double bytes) {
    static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (bytes >= 1024 && u < 5) {
        bytes /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{:.0f} {}", bytes, units[u]) : fmt::format("{:.1f} {}", bytes, units[u]);
}

std::string human_duration(std::optional<std::int64_t> seconds) {
    if (!seconds) return "-";
    std::int64_t s = *seconds;
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

std::string render_status_text(const json& status, const render_options& options) {
    std::string out;
    const json& d = status.value("daemon", json::object());
    out += fmt::format("syncd pid {} · up {} · {}{}\n", d.value("pid", 0),
                       human_duration(d.value("uptime_s", std::int64_t{0})), d.value("config", std::string()),
                       d.value("ready", false) ? "" : " · starting");
    static constexpr const char* shown[] = {
        "queued",  "running", "awaiting_verify",       "verified",
        "cleaned", "failed",  "blocked_by_validation", "cleanup_eligible"};
    static constexpr const char* short_names[] = {"queued",  "running", "verifying", "verified",
                                                  "cleaned", "failed",  "blocked",   "eligible"};
    for (const json& e : status.value("equipment", json::array())) {
        std::string line = fmt::format("{:<20}", e.value("name", std::string()));
        const json& c = e.value("counts", json::object());
        for (int i = 0; i < 8; ++i) {
            std::int64_t n = c.value(shown[i], std::int64_t{0});
            if (n != 0 || i < 2 || std::string_view(shown[i]) == "failed")
                line += fmt::format("  {} {}", short_names[i], n);
        }
        if (!e.value("configured", true)) line += "  (not configured)";
        out += line + "\n";
        for (const json& j : e.value("current", json::array())) {
            const json& p = j.contains("progress") ? j["progress"] : json(nullptr);
            std::string run = j.value("run_id", std::string());
            std::string state = j.value("state", std::string());
            if (p.is_object() && p.contains("phase") && p["phase"].is_string())
                state += " (" + p["phase"].get<std::string>() + ")";
            if (p.is_null()) {
                out += fmt::format("  {:<28} {}\n", run, state);
                continue;
            }
            double done = p.value("done", 0.0), total = p.value("total", 0.0);
            std::optional<std::int64_t> eta;
            if (p.contains("eta_s") && p["eta_s"].is_number()) eta = p["eta_s"].get<std::int64_t>();
            std::string bar;
            if (options.bars && total > 0) {
                int cells = std::clamp(options.width - 70, 10, 40);
                int filled = static_cast<int>(std::floor(done / total * cells));
                filled = std::clamp(filled, 0, cells);
                for (int i = 0; i < cells; ++i) bar += i < filled ? "█" : "░";
                bar += " ";
            }
            std::string pct = total > 0 ? fmt::format("{:3.0f}% ", done / total * 100) : "";
            out += fmt::format("  {:<28} {} {}{}{} / {}  {}/s  eta {}\n", run, state, bar, pct,
                               human_bytes(done), total > 0 ? human_bytes(total) : "?",
                               human_bytes(p.value("rate_bps", 0.0)), human_duration(eta));
        }
        for (const json& w : e.value("waiting", json::array()))
            out +=
                fmt::format("  {}: {}\n", w.value("run_id", std::string()), w.value("reason", std::string()));
    }
    return out;
}

}  // namespace labsync::apps
