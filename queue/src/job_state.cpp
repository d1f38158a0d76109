// Names of job states and event kinds as stored in SQLite and shown to operators. These strings
// are part of the on-disk format: never rename one without a schema migration.

#include <string_view>

#include "labsync/queue/job.hpp"
#include "labsync/queue/job_state.hpp"

namespace labsync::queue {

std::string_view to_string(job_state state) noexcept {
    switch (state) {
        case job_state::queued:
            return "queued";
        case job_state::running:
            return "running";
        case job_state::awaiting_verify:
            return "awaiting_verify";
        case job_state::verified:
            return "verified";
        case job_state::cleanup_eligible:
            return "cleanup_eligible";
        case job_state::cleaned:
            return "cleaned";
        case job_state::failed:
            return "failed";
        case job_state::blocked_by_validation:
            return "blocked_by_validation";
    }
    return "unknown";
}

std::optional<job_state> job_state_from_string(std::string_view text) noexcept {
    for (auto s : all_job_states) {
        if (to_string(s) == text) return s;
    }
    return std::nullopt;
}

std::string_view to_string(event_kind kind) noexcept {
    switch (kind) {
        case event_kind::created:
            return "created";
        case event_kind::transition:
            return "transition";
        case event_kind::replay:
            return "replay";
        case event_kind::override:
            return "override";
        case event_kind::retry:
            return "retry";
        case event_kind::cancel:
            return "cancel";
    }
    return "unknown";
}

}  // namespace labsync::queue
