#pragma once
// The daemon's one info line per job outcome, with the fields log shippers filter on (logging.hpp):
//   scope-1/run-42 verified 500.0 MiB in 3.1 s (161.3 MiB/s)
//   scope-1/run-42 blocked: marker file 'done' is not present; ...
//   scope-1/run-42 failed (auth, 3 attempts): PUT https://...: HTTP 403 Forbidden
//   scope-1/run-42 cleaned: local run deleted
// Pure: made from the job as the engine's on_job_changed reports it after a durable transition.
// The engine's own lines (retry decisions, refusals) stay beside these at their own levels.

#include "labsync/common/log.hpp"
#include "labsync/queue/job.hpp"

#include <optional>
#include <string>

namespace labsync::apps {

struct log_line {
    common::log_level level = common::log_level::info;
    std::string message;
    common::log_fields fields;
};

// The fields of a job: equipment, run, job, state, bytes (when known), kind (its last error kind).
common::log_fields job_fields(const queue::job& job);

// The outcome line of a job that just reached verified, blocked_by_validation, failed or cleaned;
// nullopt for any other state.
std::optional<log_line> outcome_line(const queue::job& job);

}  // namespace labsync::apps
