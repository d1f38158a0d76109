#pragma once
// The job state machine of SPEC §5 as a pure table: which (from, to) pairs the store may write.
// No I/O; the job store checks every transition against it inside the write transaction.
//
//   from                  -> to                      why
//   queued                -> running                 a worker picked the job
//   queued                -> failed                  the run vanished / cannot be read before start
//   queued                -> blocked_by_validation   the gate, re-run before shipping, found a hard finding
//   running               -> awaiting_verify         the transport reported success
//   running               -> queued                  retryable error (backoff) or replay after a crash
//   running               -> failed                  terminal error kind (auth, conflict, rejected, ...)
//   awaiting_verify       -> verified                remote manifest / archive sha matches
//   awaiting_verify       -> queued                  remote copy missing or differs: ship again
//   awaiting_verify       -> failed                  verification failed for good (retries spent)
//   verified              -> cleanup_eligible        retention passed or disk under the watermark
//   verified              -> awaiting_verify         operator force_verify: prove it again
//   cleanup_eligible      -> cleaned                 interlocks passed, local copy deleted
//   cleanup_eligible      -> verified                interlock could not be checked now (probe error): later
//   cleanup_eligible      -> awaiting_verify         remote re-confirmation failed: re-verify (may re-ship)
//   cleanup_eligible      -> failed                  local files no longer match their manifest: keep them
//   blocked_by_validation -> queued                  operator override (recorded with who/why)
//   failed                -> queued                  operator retry (attempts reset)
//
// Nothing else: no self-transitions (a replayed awaiting_verify job simply stays there), `cleaned`
// is final, `failed` leaves only by an operator retry, and nothing skips verification.

#include <span>
#include <string>
#include <system_error>

#include "labsync/queue/job_state.hpp"

namespace labsync::queue {

class state_machine {
public:
    // True when the store may write from -> to.
    static bool allowed(job_state from, job_state to) noexcept;

    // Empty error_code when allowed, errc::illegal_transition otherwise.
    static std::error_code check(job_state from, job_state to) noexcept;

    // "illegal transition running -> cleaned (allowed from running: awaiting_verify, queued, failed)".
    static std::string describe_refusal(job_state from, job_state to);

    // The states reachable from `from` in one step, in table order.
    static std::span<const job_state> successors(job_state from) noexcept;

    // A state no engine transition leaves (cleaned; failed only leaves by operator retry).
    static bool is_terminal(job_state s) noexcept {
        return s == job_state::cleaned || s == job_state::failed;
    }
};

}  // namespace labsync::queue
