#pragma once
// The states of a job (SPEC §5).

#include <optional>
#include <string_view>

namespace labsync::queue {

enum class job_state {
    queued,
    running,
    awaiting_verify,
    verified,
    cleanup_eligible,
    cleaned,
    failed,
    blocked_by_validation,
};

inline constexpr job_state all_job_states[] = {
    job_state::queued,           job_state::running,
    job_state::awaiting_verify,  job_state::verified,
    job_state::cleanup_eligible, job_state::cleaned,
    job_state::failed,           job_state::blocked_by_validation,
};

std::string_view to_string(job_state state) noexcept;
std::optional<job_state> job_state_from_string(std::string_view text) noexcept;

// A live job holds its (equipment, run) slot. A `failed` job keeps it: the operator retries it
// (or cleans up by hand); only `cleaned` frees the slot for a new job of the same run.
constexpr bool is_live(job_state s) noexcept {
    return s != job_state::cleaned;
}

}  // namespace labsync::queue
