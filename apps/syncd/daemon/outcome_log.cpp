// See outcome_log.hpp.
#include "daemon/outcome_log.hpp"

#include "admin/status_view.hpp"

#include <fmt/format.h>

namespace labsync::apps {

common::log_fields job_fields(const queue::job& job) {
    common::log_fields f;
    f.equipment = job.equipment;
    f.run = job.run_id;
    f.job = job.id;
    f.state = std::string(queue::to_string(job.state));
    if (job.bytes && *job.bytes >= 0) f.bytes = static_cast<std::uint64_t>(*job.bytes);
    f.kind = job.last_error_kind.value_or("");
    return f;
}

namespace {

// "3.1 s" below a minute, else "4m05s".
std::string took(double seconds) {
    if (seconds < 60) return fmt::format("{:.1f} s", seconds);
    return human_duration(static_cast<std::int64_t>(seconds));
}

std::string verified_text(const queue::job& job) {
    std::string text = fmt::format("{}/{} verified", job.equipment, job.run_id);
    if (job.bytes) text += " " + human_bytes(static_cast<double>(*job.bytes));
    if (job.started_at && job.finished_at && *job.finished_at >= *job.started_at) {
        const double seconds = std::chrono::duration<double>(*job.finished_at - *job.started_at).count();
        text += " in " + took(seconds);
        if (job.bytes && seconds > 0)
            text += fmt::format(" ({}/s)", human_bytes(static_cast<double>(*job.bytes) / seconds));
    }
    return text;
}

}  // namespace

std::optional<log_line> outcome_line(const queue::job& job) {
    log_line line;
    line.fields = job_fields(job);
    const std::string error = job.last_error.value_or("no error recorded");
    switch (job.state) {
        case queue::job_state::verified:
            line.fields.kind.clear();  // an earlier failure's kind is history now
            line.message = verified_text(job);
            return line;
        case queue::job_state::blocked_by_validation:
            line.message = fmt::format("{}/{} blocked: {}", job.equipment, job.run_id, error);
            return line;
        case queue::job_state::failed:
            line.message = fmt::format("{}/{} failed ({}, {} attempt{}): {}", job.equipment, job.run_id,
                                       job.last_error_kind.value_or("unknown"), job.attempts,
                                       job.attempts == 1 ? "" : "s", error);
            return line;
        case queue::job_state::cleaned:
            line.fields.kind.clear();
            line.message = fmt::format("{}/{} cleaned: local run deleted", job.equipment, job.run_id);
            return line;
        default:
            return std::nullopt;
    }
}

}  // namespace labsync::apps
