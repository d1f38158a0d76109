#pragma once
// `syncd status`: the daemon builds one JSON document (status_json), the CLI prints it as is
// (--json) or renders it as text (render_status_text), with progress bars on a terminal. The JSON
// layout is stable (documented in docs/operations.md); fields are only ever added.
//
// {"version":1,
//  "daemon":{"pid":123,"uptime_s":42,"config":"/etc/labsync/syncd.toml","ready":true},
//  "totals":{"queued":0,"running":1,...every state...},
//  "equipment":[{"name":"scope-1","counts":{...every state...},
//                "current":[{...job_json...,"progress":{"phase":"uploading","done":1,"total":2,
//                                                        "rate_bps":3.0,"eta_s":4}}],
//                "retrying":[{...job_json...,"retry":{"attempt":3,"max_attempts":10,"in_s":7}}],
//                "waiting":[{"run_id":"run-7","kind":"future_mtime","newest_mtime":"…","settled_at":"…",
//                            "seconds_left":86410,"reason":"mtime 1 day in the future, waiting"},
//                           {"run_id":"run-8","kind":"no_marker","expected_marker":"RUN_COMPLETE",
//                            "marker_like":["DONE"],"reason":"no marker RUN_COMPLETE; found DONE (…)"}]}]}

#include "labsync/engine/engine.hpp"
#include "labsync/queue/job.hpp"
#include "labsync/queue/job_store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::apps {

struct job_progress {
    std::string phase = "uploading";  // hashing, packing, uploading, verifying (engine::progress_phase)
    std::uint64_t done = 0;
    std::uint64_t total = 0;  // 0 = unknown
    double rate_bps = 0;      // bytes per second over the last rate_window (0 when nothing moved)
    std::chrono::steady_clock::time_point last_update{};
};

// Thread-safe: the engine's I/O thread updates it, admin requests (handler pool) read it.
class progress_tracker {
public:
    // The rate is measured over this sliding window, not since the start: a transfer that slows
    // down or stalls shows it within seconds.
    static constexpr std::chrono::seconds rate_window{10};

    // A new phase starts its own count (and rate).
    void update(std::int64_t job_id, std::uint64_t done, std::uint64_t total,
                std::chrono::steady_clock::time_point now, std::string_view phase = "uploading");
    void forget(std::int64_t job_id);
    // Rates over the samples of the last rate_window before `now`.
    std::map<std::int64_t, job_progress> snapshot(
        std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) const;

private:
    struct entry {
        job_progress progress;
        std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> samples;  // (when, done)
    };
    mutable std::mutex mutex_;
    std::map<std::int64_t, entry> jobs_;
};

struct daemon_info {
    int pid = 0;
    std::int64_t uptime_s = 0;
    std::string config;
    bool ready = false;
};

nlohmann::json status_json(const daemon_info& daemon, const std::vector<std::string>& equipment,
                           const queue::state_counts& counts, const std::vector<queue::job>& current,
                           const std::map<std::int64_t, job_progress>& progress);

// Adds the runs that wait, not yet jobs, to their equipment's entry ("waiting"; [] when none): kind
// "settling" or "future_mtime" (engine::waiting_runs) and "no_marker" (engine::runs_without_marker).
void add_waiting_runs(nlohmann::json& status, const std::vector<engine::settle_wait>& waiting,
                      const std::vector<engine::unmarked_run>& unmarked, queue::time_point now);
// Adds the queued jobs that wait for a retry (an attempt failed) to their equipment's entry
// ("retrying": job_json plus "retry":{"attempt":3,"max_attempts":10,"in_s":7}; [] when none).
void add_retrying_jobs(nlohmann::json& status, const std::vector<queue::job>& queued, int max_attempts,
                       queue::time_point now);
// "2 waiting: 1 settling 3 s, 1 without marker" for an equipment's "waiting" list ("" when empty).
std::string waiting_summary(const nlohmann::json& waiting);

struct render_options {
    bool bars{false};  // unicode progress bars (a terminal)
    int width{80};     // every line fits (columns are dropped, long texts elided with "…")
};
// The text of `syncd status` and each frame of --watch (status_text.cpp): per equipment its
// counts; a line per job in flight (run, phase, bar, percent, bytes, rate, ETA); per job waiting
// for a retry "retry 3/10 in 7 s: connection refused"; the runs that wait, summed up and named.
std::string render_status_text(const nlohmann::json& status, const render_options& options);
// `text` cut to `width` terminal cells, ending in "…" when cut (each code point is one cell).
std::string fit_width(std::string_view text, int width);

// "1.5 GiB", "312 B"
std::string human_bytes(double bytes);
// "1h02m", "45s", "-" for unknown
std::string human_duration(std::optional<std::int64_t> seconds);

}  // namespace labsync::apps
