#pragma once
// The records the job store returns: a job, one event of its history, one operator override.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "labsync/queue/job_state.hpp"

namespace labsync::queue {

using time_point = std::chrono::system_clock::time_point;  // stored as integer ms since the epoch

struct job {
    std::int64_t id = 0;
    std::string equipment;
    std::string run_id;
    std::string run_path;
    job_state state = job_state::queued;
    int attempts = 0;                            // transport attempts since creation or last retry
    std::optional<time_point> next_attempt_at;   // only meaningful while queued; null = due now
    std::optional<std::string> last_error_kind;  // TransportResult error_kind, or engine's own kind
    std::optional<std::string> last_error;       // human text of the last error
    std::optional<std::int64_t> bytes;           // bytes shipped (archive size or run size)
    std::optional<std::string> manifest_digest;  // digest of the canonical manifest
    std::optional<std::string> archive_sha256;   // sha256 of the shipped archive (http_put)
    std::optional<std::string> tree_digest;      // verifier::tree_digest of the run as shipped
    // verifier::fingerprint_digest of the run as shipped; null or "" = none (cleanup re-hashes).
    std::optional<std::string> fingerprint_digest;
    time_point created_at{};
    time_point updated_at{};
    std::optional<time_point> started_at;   // last entry into running
    std::optional<time_point> finished_at;  // last entry into verified or failed; cleared on requeue
};

// Why an event row was written.
enum class event_kind {
    created,     // the job was created (from_state is empty)
    transition,  // an engine transition
    replay,      // open() put a running job back to queued after a restart
    override,    // an operator overrode a validation block
    retry,       // an operator retried a failed job
    cancel,      // an operator cancelled a queued or awaiting_verify job (it is now failed)
};

// last_error_kind of a job created blocked_by_validation (last_error names the hard findings).
inline constexpr std::string_view validation_error_kind = "validation";

// last_error_kind of a job an operator cancelled.
inline constexpr std::string_view cancelled_error_kind = "cancelled";

std::string_view to_string(event_kind kind) noexcept;

struct job_event {
    std::int64_t id = 0;
    std::int64_t job_id = 0;
    time_point at{};
    std::optional<job_state> from_state;  // empty for `created`
    job_state to_state = job_state::queued;
    event_kind kind = event_kind::transition;
    std::string message;
};

struct job_override {
    std::int64_t id = 0;
    std::int64_t job_id = 0;
    std::string who;
    std::string why;
    time_point at{};
};

// Which jobs job_store::list (and the engine's find_jobs) returns.
struct job_filter {
    std::optional<std::string> equipment{};
    std::optional<job_state> state{};
    std::optional<std::string> run_id{};
    std::size_t limit = 0;  // 0 = no limit
    bool newest_first = false;
};

// counts()[equipment][state] = number of jobs (states with no job are absent).
using state_counts = std::map<std::string, std::map<job_state, std::int64_t>>;

}  // namespace labsync::queue
