// Prometheus rendering of the daemon's metrics; see metrics_registry.hpp.
#include "metrics/metrics_registry.hpp"

#include <fmt/format.h>

#include <chrono>

namespace labsync::apps {

std::string prometheus_label(std::string_view value) {
    std::string out;
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

void metrics_registry::on_job_changed(const queue::job& job) {
    std::lock_guard lock(mutex_);
    using queue::job_state;
    if (job.state == job_state::verified && counted_.insert(job.id).second) {
        if (job.bytes) bytes_shipped_[job.equipment] += static_cast<std::uint64_t>(*job.bytes);
        jobs_verified_[job.equipment] += 1;
        auto now = std::chrono::system_clock::now();
        last_success_[job.equipment] = std::chrono::duration<double>(now.time_since_epoch()).count();
        if (job.started_at) {
            auto end = job.finished_at.value_or(job.updated_at);
            double seconds = std::chrono::duration<double>(end - *job.started_at).count();
            if (seconds < 0) seconds = 0;
            histogram& h = durations_[job.equipment];
            std::size_t i = 0;
            while (i < duration_buckets.size() && seconds > duration_buckets[i]) ++i;
            h.buckets[i] += 1;
            h.count += 1;
            h.sum += seconds;
        }
    }
    // A job back in queued with an error after an attempt is a retry of that error kind.
    if (job.state == job_state::queued && job.last_error_kind && job.attempts > 0) {
        int& seen = last_attempts_[job.id];
        if (job.attempts != seen) {
            seen = job.attempts;
            retries_[{job.equipment, *job.last_error_kind}] += 1;
        }
    }
    if (job.state == job_state::failed)
        failures_[{job.equipment, job.last_error_kind.value_or("unknown")}] += 1;
    if (job.state == job_state::cleaned || job.state == job_state::failed) last_attempts_.erase(job.id);
}

void metrics_registry::on_config_reload(bool ok) {
    std::lock_guard lock(mutex_);
    (ok ? reloads_ok_ : reloads_failed_) += 1;
}

std::string metrics_registry::render(const scrape_sample& s) const {
    std::lock_guard lock(mutex_);
    std::string o;
    auto head = [&](const char* name, const char* type, const char* help) {
        o += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    head("labsync_up", "gauge", "1 while the daemon runs");
    o += "labsync_up 1\n";
    head("labsync_uptime_seconds", "gauge", "seconds since the daemon started");
    o += fmt::format("labsync_uptime_seconds {:.0f}\n", s.uptime_s);

    head("labsync_jobs", "gauge", "jobs by equipment and state");
    std::vector<std::string> names = s.equipment;
    for (const auto& [name, _] : s.counts)
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    for (const auto& name : names) {
        auto it = s.counts.find(name);
        for (queue::job_state st : queue::all_job_states) {
            std::int64_t n = 0;
            if (it != s.counts.end())
                if (auto f = it->second.find(st); f != it->second.end()) n = f->second;
            o += fmt::format("labsync_jobs{{equipment=\"{}\",state=\"{}\"}} {}\n", prometheus_label(name),
                             queue::to_string(st), n);
        }
    }
    head("labsync_queue_depth", "gauge", "queued jobs per equipment");
    for (const auto& name : names) {
        std::int64_t n = 0;
        if (auto it = s.counts.find(name); it != s.counts.end())
            if (auto f = it->second.find(queue::job_state::queued); f != it->second.end()) n = f->second;
        o += fmt::format("labsync_queue_depth{{equipment=\"{}\"}} {}\n", prometheus_label(name), n);
    }
    head("labsync_oldest_queued_age_seconds", "gauge", "age of the oldest queued job (0 when none)");
    for (const auto& name : names) {
        double age = 0;
        if (auto it = s.oldest_queued_age_s.find(name); it != s.oldest_queued_age_s.end()) age = it->second;
        o += fmt::format("labsync_oldest_queued_age_seconds{{equipment=\"{}\"}} {:.0f}\n",
                         prometheus_label(name), age);
    }
    head("labsync_shipped_bytes_total", "counter", "bytes of verified jobs since the daemon started");
    for (const auto& name : names) {
        auto it = bytes_shipped_.find(name);
        o += fmt::format("labsync_shipped_bytes_total{{equipment=\"{}\"}} {}\n", prometheus_label(name),
                         it == bytes_shipped_.end() ? 0 : it->second);
    }
    head("labsync_verified_jobs_total", "counter", "jobs verified since the daemon started");
    for (const auto& name : names) {
        auto it = jobs_verified_.find(name);
        o += fmt::format("labsync_verified_jobs_total{{equipment=\"{}\"}} {}\n", prometheus_label(name),
                         it == jobs_verified_.end() ? 0 : it->second);
    }
    head("labsync_retries_total", "counter", "transport retries by error kind");
    for (const auto& [key, n] : retries_)
        o += fmt::format("labsync_retries_total{{equipment=\"{}\",kind=\"{}\"}} {}\n",
                         prometheus_label(key.first), prometheus_label(key.second), n);
    head("labsync_failures_total", "counter", "jobs that ended failed, by error kind");
    for (const auto& [key, n] : failures_)
        o += fmt::format("labsync_failures_total{{equipment=\"{}\",kind=\"{}\"}} {}\n",
                         prometheus_label(key.first), prometheus_label(key.second), n);
    head("labsync_last_success_timestamp_seconds", "gauge",
         "unix time of the last verified job (0: none yet)");
    for (const auto& name : names) {
        auto it = last_success_.find(name);
        o += fmt::format("labsync_last_success_timestamp_seconds{{equipment=\"{}\"}} {:.3f}\n",
                         prometheus_label(name), it == last_success_.end() ? 0.0 : it->second);
    }
    head("labsync_job_duration_seconds", "histogram", "time from start of shipping to verified");
    for (const auto& [name, h] : durations_) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < duration_buckets.size(); ++i) {
            cumulative += h.buckets[i];
            o += fmt::format("labsync_job_duration_seconds_bucket{{equipment=\"{}\",le=\"{}\"}} {}\n",
                             prometheus_label(name), duration_buckets[i], cumulative);
        }
        cumulative += h.buckets.back();
        o += fmt::format("labsync_job_duration_seconds_bucket{{equipment=\"{}\",le=\"+Inf\"}} {}\n",
                         prometheus_label(name), cumulative);
        o += fmt::format("labsync_job_duration_seconds_sum{{equipment=\"{}\"}} {:.3f}\n",
                         prometheus_label(name), h.sum);
        o += fmt::format("labsync_job_duration_seconds_count{{equipment=\"{}\"}} {}\n",
                         prometheus_label(name), h.count);
    }
    head("labsync_disk_free_bytes", "gauge", "free bytes on the filesystems of runs roots and state dir");
    for (const auto& d : s.disks)
        o += fmt::format("labsync_disk_free_bytes{{path=\"{}\"}} {}\n", prometheus_label(d.path),
                         d.free_bytes);
    head("labsync_disk_total_bytes", "gauge", "size of those filesystems");
    for (const auto& d : s.disks)
        o += fmt::format("labsync_disk_total_bytes{{path=\"{}\"}} {}\n", prometheus_label(d.path),
                         d.total_bytes);
    head("labsync_watchdog_stalled", "gauge", "1 when active jobs made no progress within watchdog_stall");
    o += fmt::format("labsync_watchdog_stalled {}\n", s.watchdog_stalled ? 1 : 0);
    head("labsync_config_reloads_total", "counter", "SIGHUP reloads by result");
    o += fmt::format("labsync_config_reloads_total{{result=\"ok\"}} {}\n", reloads_ok_);
    o += fmt::format("labsync_config_reloads_total{{result=\"refused\"}} {}\n", reloads_failed_);
    return o;
}

}  // namespace labsync::apps
