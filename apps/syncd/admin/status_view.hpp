#pragma once
// `syncd status`: the daemon builds one JSON document (status_json), the CLI prints it as is
// (--json) or renders it as text (render_status_text), with progress bars on a terminal. The JSON
// layout is stable (documented in docs/operations.md); fields are only ever added.
//
// {"version":1,
//  "daemon":{"pid":123,"uptime_s":42,"config":"/etc/labsync/syncd.toml","ready":true},
//  "totals":{"queued":0,"running":1,...every state...},
//  "equipment":[{"name":"scope-1","counts":{...every state...},
//                "current":[{...job_json...,"progress":{"done":1,"total":2,"rate_bps":3.0,"eta_s":4}}],
//                "waiting":[{"run_id":"run-7","newest_mtime":"…","settled_at":"…",
//                            "reason":"mtime 1 day in the future, waiting"}]}]}

#include "labsync/engine/engine.hpp"
#include "labsync/queue/job.hpp"
#include "labsync/queue/job_store.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
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
    double rate_bps = 0;      // smoothed bytes per second
    std::chrono::steady_clock::time_point last_update{};
};

// Thread-safe: the engine's I/O thread updates it, admin requests (handler pool) read it.
class progress_tracker {
public:
    // A new phase starts its own count (and rate).
    void update(std::int64_t job_id, std::uint64_t done, std::uint64_t total,
                std::chrono::steady_clock::time_point now, std::string_view phase = "uploading");
    void forget(std::int64_t job_id);
    std::map<std::int64_t, job_progress> snapshot() const;

private:
    mutable std::mutex mutex_;
    std::map<std::int64_t, job_progress> jobs_;
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

// Adds the runs waiting to settle to their equipment's entry ("waiting"; [] when none).
void add_waiting_runs(nlohmann::json& status, const std::vector<engine::settle_wait>& waiting,
                      queue::time_point now);

struct render_options {
    bool bars{false};  // unicode progress bars (a terminal)
    int width{80};
};
std::string render_status_text(const nlohmann::json& status, const render_options& options);

// "1.5 GiB", "312 B"
std::string human_bytes(double bytes);
// "1h02m", "45s", "-" for unknown
std::string human_duration(std::optional<std::int64_t> seconds);

}  // namespace labsync::apps
