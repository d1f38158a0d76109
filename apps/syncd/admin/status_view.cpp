// Status document and its text rendering; see status_view.hpp.
#include "admin/status_view.hpp"

#include "admin/admin_protocol.hpp"

#include "labsync/engine/gate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace labsync::apps {

using nlohmann::json;

void progress_tracker::update(std::int64_t job_id, std::uint64_t done, std::uint64_t total,
                              std::chrono::steady_clock::time_point now, std::string_view phase) {
    std::lock_guard lock(mutex_);
    entry& e = jobs_[job_id];
    if (e.samples.empty() || e.progress.phase != phase || done < e.progress.done) {
        e = entry{};  // a new entry, or one reset for a new phase (or a restarted count)
        e.progress.phase = std::string(phase);
    }
    e.samples.emplace_back(now, done);
    while (e.samples.size() > 2 && now - e.samples[1].first >= rate_window) e.samples.pop_front();
    e.progress.done = done;
    e.progress.total = total;
    e.progress.last_update = now;
}

void progress_tracker::forget(std::int64_t job_id) {
    std::lock_guard lock(mutex_);
    jobs_.erase(job_id);
}

std::map<std::int64_t, job_progress> progress_tracker::snapshot(
    std::chrono::steady_clock::time_point now) const {
    std::lock_guard lock(mutex_);
    std::map<std::int64_t, job_progress> out;
    for (const auto& [id, e] : jobs_) {
        job_progress p = e.progress;
        // The oldest sample inside the window against the newest; nothing inside it: stalled.
        auto first = std::find_if(e.samples.begin(), e.samples.end(),
                                  [&](const auto& s) { return now - s.first <= rate_window; });
        // A job that reported nothing for a while has not moved since: the window ends now.
        const auto newest = e.samples.back().first;
        const auto end = now - newest > std::chrono::seconds(2) ? now : newest;
        if (first != e.samples.end() && end > first->first) {
            const double seconds = std::chrono::duration<double>(end - first->first).count();
            p.rate_bps = static_cast<double>(e.samples.back().second - first->second) / seconds;
        }
        out.emplace(id, std::move(p));
    }
    return out;
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

void add_waiting_runs(json& status, const std::vector<engine::settle_wait>& waiting,
                      const std::vector<engine::unmarked_run>& unmarked, queue::time_point now) {
    if (!status.contains("equipment")) return;
    for (json& e : status["equipment"]) {
        const std::string name = e.value("name", std::string());
        json list = json::array();
        for (const auto& w : waiting) {
            if (w.equipment != name) continue;
            const auto left = std::chrono::ceil<std::chrono::seconds>(w.settled_at - now).count();
            list.push_back({{"run_id", w.run_id},
                            {"kind", w.newest_mtime > now ? "future_mtime" : "settling"},
                            {"newest_mtime", iso_time(w.newest_mtime)},
                            {"settled_at", iso_time(w.settled_at)},
                            {"seconds_left", std::max<std::int64_t>(0, left)},
                            {"reason", engine::describe_settle_wait(w.newest_mtime, w.settled_at, now)}});
        }
        for (const auto& u : unmarked)
            if (u.equipment == name)
                list.push_back({{"run_id", u.run_id},
                                {"kind", "no_marker"},
                                {"expected_marker", u.expected_marker},
                                {"marker_like", u.marker_like},
                                {"reason", engine::describe_unmarked(u)}});
        e["waiting"] = std::move(list);
    }
}

void add_retrying_jobs(json& status, const std::vector<queue::job>& queued, int max_attempts,
                       queue::time_point now) {
    if (!status.contains("equipment")) return;
    for (json& e : status["equipment"]) {
        json list = json::array();
        for (const auto& job : queued) {
            if (job.equipment != e.value("name", std::string()) || (job.attempts == 0 && !job.last_error))
                continue;
            const auto in = job.next_attempt_at
                                ? std::chrono::ceil<std::chrono::seconds>(*job.next_attempt_at - now).count()
                                : 0;
            json j = job_json(job);
            j["retry"] = {{"attempt", job.attempts + 1},
                          {"max_attempts", max_attempts},
                          {"in_s", std::max<std::int64_t>(0, in)}};
            list.push_back(std::move(j));
        }
        e["retrying"] = std::move(list);
    }
}

std::string waiting_summary(const json& waiting) {
    std::int64_t settling = 0, future = 0, unmarked = 0, soonest = -1;
    for (const json& w : waiting) {
        const std::string kind = w.value("kind", std::string());
        if (kind == "no_marker") {
            ++unmarked;
        } else if (kind == "future_mtime") {
            ++future;
        } else {
            ++settling;
            const auto left = w.value("seconds_left", std::int64_t{0});
            soonest = soonest < 0 ? left : std::min(soonest, left);
        }
    }
    if (settling + future + unmarked == 0) return {};
    std::vector<std::string> parts;
    if (settling == 1) parts.push_back(fmt::format("1 settling {} s", soonest));
    if (settling > 1) parts.push_back(fmt::format("{} settling (next in {} s)", settling, soonest));
    if (future) parts.push_back(fmt::format("{} dated in the future", future));
    if (unmarked) parts.push_back(fmt::format("{} without marker", unmarked));
    return fmt::format("{} waiting: {}", settling + future + unmarked, fmt::join(parts, ", "));
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

}  // namespace labsync::apps
