#pragma once
// When may a local run be deleted (SPEC §10)? Pure decisions, in two steps the engine performs
// with a durable transition between them:
//
//  1. select_cleanup_candidates(): among `verified` jobs, those whose retention has passed, then -
//     only while free space is under the watermark - the others, oldest verification first.
//     Each candidate goes verified -> cleanup_eligible.
//  2. decide_cleanup(): for a cleanup_eligible job, after re-probing the remote and re-hashing
//     the local run, delete only if EVERY interlock holds:
//       state is cleanup_eligible, cleanup enabled, (retention passed or under watermark),
//       the remote probe answered and matches what was verified, the local files still match
//       the verified manifest, and the job's verified digest is known.
//     Otherwise say why and where the job goes: back to verified (could not check now),
//     awaiting_verify (the remote no longer matches: prove or re-ship), failed (the local copy
//     changed after verification: keep it for the operator).

#include "labsync/queue/job.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace labsync::engine {

enum class cleanup_action {
    keep,              // not now; stays where it is
    delete_run,        // every interlock holds
    back_to_verified,  // an interlock could not be checked (probe error, hashing error): try later
    reverify,          // the remote copy does not match any more
    fail,              // the local copy no longer matches its manifest
};

std::string_view to_string(cleanup_action action) noexcept;

enum class check_result { unknown, match, mismatch };

struct cleanup_situation {
    queue::job_state state = queue::job_state::verified;
    bool cleanup_enabled = true;
    std::optional<queue::time_point> verified_at;  // the job's finished_at
    queue::time_point now{};
    std::chrono::seconds retention{0};
    bool under_watermark = false;
    bool has_verified_digest = false;  // the job records the manifest digest (or archive sha) it verified
    check_result remote = check_result::unknown;  // re-probe at deletion time
    check_result local = check_result::unknown;   // local manifest vs the verified one
};

struct cleanup_verdict {
    cleanup_action action = cleanup_action::keep;
    std::string reason;
    // The run was due for deletion but an interlock refused it (an operator should hear of it,
    // unlike "retention has not passed").
    bool interlock_failed = false;
};

bool retention_passed(const cleanup_situation& s) noexcept;

cleanup_verdict decide_cleanup(const cleanup_situation& s);

struct cleanup_candidate {
    std::int64_t job_id = 0;
    queue::time_point verified_at{};
    bool retention_passed = false;
};

// Verified jobs (any order) -> the ones to move to cleanup_eligible now, in the order to process:
// retention-passed ones first (oldest first), then, when under_watermark, the rest oldest first.
// The engine re-checks free space after each deletion and stops taking watermark-only candidates
// once it is above the watermark again.
std::vector<cleanup_candidate> select_cleanup_candidates(const std::vector<queue::job>& verified_jobs,
                                                         queue::time_point now,
                                                         std::chrono::seconds retention,
                                                         bool under_watermark);

}  // namespace labsync::engine
