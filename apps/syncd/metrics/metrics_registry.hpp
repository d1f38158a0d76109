#pragma once
// The daemon's Prometheus metrics. Counters are fed from the engine's callbacks (I/O thread);
// gauges that the job store already knows (jobs by state, queue depth, oldest queued age, free
// disk) are sampled at scrape time into a scrape_sample. render() produces the text format
// (version 0.0.4). Thread-safe.

#include "labsync/queue/job.hpp"
#include "labsync/queue/job_store.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace labsync::apps {

struct disk_sample {
    std::string path;
    std::uint64_t free_bytes = 0;
    std::uint64_t total_bytes = 0;
};

struct scrape_sample {
    std::vector<std::string> equipment;  // configured, in order
    queue::state_counts counts;
    std::map<std::string, double> oldest_queued_age_s;  // equipment -> seconds
    std::vector<disk_sample> disks;
    bool watchdog_stalled = false;
    double uptime_s = 0;
};

class metrics_registry {
public:
    static constexpr std::array<double, 11> duration_buckets{1,   5,    15,   30,    60,   300,
                                                             900, 1800, 3600, 14400, 86400};

    // Called for every durable transition the engine reports.
    void on_job_changed(const queue::job& job);
    void on_config_reload(bool ok);

    std::string render(const scrape_sample& sample) const;

private:
    struct histogram {
        std::array<std::uint64_t, duration_buckets.size() + 1> buckets{};  // last: +Inf
        std::uint64_t count = 0;
        double sum = 0;
    };
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> bytes_shipped_;                     // equipment
    std::map<std::pair<std::string, std::string>, std::uint64_t> retries_;   // equipment, kind
    std::map<std::pair<std::string, std::string>, std::uint64_t> failures_;  // equipment, kind
    std::map<std::string, histogram> durations_;                             // equipment
    std::map<std::string, double> last_success_;                             // equipment -> unix s
    std::map<std::string, std::uint64_t> jobs_verified_;                     // equipment
    std::set<std::int64_t> counted_;  // jobs whose verification was counted (force_verify repeats it)
    std::map<std::int64_t, int> last_attempts_;
    std::uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
};

// Escapes a label value for the text format.
std::string prometheus_label(std::string_view value);

}  // namespace labsync::apps
