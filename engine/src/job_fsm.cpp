// The job lifecycle's decisions; see job_fsm.hpp. No I/O: every effect is an action for the driver.
#include "labsync/engine/job_fsm.hpp"
#include "labsync/engine/stored_error_kind.hpp"

#include "job_fsm_steps.hpp"

#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace labsync::engine {

using queue::job_state;
using transports::error_kind;
using transports::transport_result;

using detail::commit;
using detail::expect;
using detail::simple;

job_fsm::job_fsm(step first, queue::job job, job_context context)
    : step_(first), job_(std::move(job)), ctx_(std::move(context)) {}

job_fsm job_fsm::ship(queue::job job, job_context context) {
    return job_fsm(step::start_ship, std::move(job), std::move(context));
}

job_fsm job_fsm::verify(queue::job job, job_context context) {
    return job_fsm(step::start_verify, std::move(job), std::move(context));
}

job_fsm job_fsm::cleanup(queue::job job, job_context context) {
    return job_fsm(step::start_cleanup, std::move(job), std::move(context));
}

job_action job_fsm::finish(log_level level, std::string log) {
    step_ = step::finished;
    evidence_.reset();
    job_action a;
    a.level = level;
    a.log = std::move(log);
    return a;
}

void job_fsm::take_built(verifier::build_result& built) {
    awaiting_details_ = {};
    awaiting_details_.attempts = queue::attempts_update::increment;
    // The last error stays until `verified`: a verification mismatch right after a re-ship
    // must see that the previous attempt was a mismatch too (one immediate retry, not a loop).
    awaiting_details_.bytes = static_cast<std::int64_t>(built.manifest.total_bytes());
    awaiting_details_.manifest_digest = verifier::to_hex(built.manifest.digest());
    awaiting_details_.tree_digest = verifier::to_hex(verifier::tree_digest(built));
    awaiting_details_.fingerprint_digest = fingerprint_to_record(built);
    local_ = std::move(built.manifest);
}

job_action job_fsm::shipped() {
    awaiting_details_.archive_sha256 = pushed_->archive_sha256;
    auto d = awaiting_details_;
    d.message = fmt::format("shipped {} files, {} bytes (status {})", local_->entries().size(),
                            local_->total_bytes(), pushed_->status.returncode);
    evidence_ = std::move(pushed_->evidence);
    pushed_.reset();
    step_ = step::ship_awaiting;
    return commit(job_state::awaiting_verify, std::move(d));
}

job_action job_fsm::resume(job_event event) {
    switch (step_) {
        case step::start_ship: {
            expect<job_events::start>(event, "start");
            queue::transition_details d;
            d.message = fmt::format("shipping via {} (attempt {})", ctx_.transport_name, job_.attempts + 1);
            step_ = step::ship_running;
            return commit(job_state::running, std::move(d));
        }
        case step::ship_running: {
            if (!expect<job_events::committed>(event, "running").ok) return finish();
            // A transport whose push reads and hashes the run brings its manifest back: no pass before.
            step_ = ctx_.push_hashes_run ? step::ship_pushed : step::ship_built;
            return simple(ctx_.push_hashes_run ? job_action_kind::push : job_action_kind::build_manifest);
        }
        case step::ship_built: {
            auto& built = expect<job_events::built>(event, "the manifest").result;
            if (!built.ok())
                return fail(transport_result::failure(
                                transports::kind_of_local_error(built.error),
                                fmt::format("cannot build the manifest of {} at '{}': {}", job_.run_path,
                                            built.error_path, built.error.message())),
                            true);
            take_built(built);
            if (pushed_) return shipped();  // the push went first but brought no manifest
            step_ = step::ship_pushed;
            return simple(job_action_kind::push);
        }
        case step::ship_pushed: {
            auto& pushed = expect<job_events::pushed>(event, "the push").result;
            if (!pushed.status.ok) return fail(pushed.status, true);
            pushed_ = std::move(pushed);
            if (!local_) {
                if (!pushed_->built) {
                    step_ = step::ship_built;
                    return simple(job_action_kind::build_manifest);
                }
                take_built(*pushed_->built);
            }
            return shipped();
        }
        case step::ship_awaiting: {
            if (!expect<job_events::committed>(event, "awaiting_verify").ok) return finish();
            // The job as the store now holds it (the store keeps a field the details leave unset).
            job_.state = job_state::awaiting_verify;
            ++job_.attempts;
            job_.bytes = awaiting_details_.bytes;
            job_.manifest_digest = awaiting_details_.manifest_digest;
            job_.tree_digest = awaiting_details_.tree_digest;
            job_.fingerprint_digest = awaiting_details_.fingerprint_digest;
            if (awaiting_details_.archive_sha256) job_.archive_sha256 = awaiting_details_.archive_sha256;
            return verify_next();
        }
        case step::start_verify:
            expect<job_events::start>(event, "start");
            return verify_next();
        case step::verify_built: {
            auto& built = expect<job_events::built>(event, "the manifest").result;
            if (!built.ok())
                return fail(transport_result::failure(transports::kind_of_local_error(built.error),
                                                      fmt::format("cannot re-hash {} for verification: {}",
                                                                  job_.run_path, built.error.message())),
                            false);
            if (job_.manifest_digest && verifier::to_hex(built.manifest.digest()) != *job_.manifest_digest)
                return fail(transport_result::failure(
                                error_kind::local_file_vanished,
                                "the local run changed after it was shipped (manifest digest differs)"),
                            false);
            local_ = std::move(built.manifest);
            return verify_next();
        }
        case step::verify_probed: {
            auto& probe = expect<job_events::probed>(event, "the probe").result;
            if (!probe.status.ok) return fail(probe.status, false);
            return judge(probe);
        }
        case step::verify_committed: {
            if (!expect<job_events::committed>(event, "verified").ok) return finish();
            step_ = step::verify_released;  // the outbox archive goes after the durable `verified`
            return simple(job_action_kind::release);
        }
        case step::verify_released: {
            const auto& error = expect<job_events::released>(event, "the release").error;
            job_action next;
            if (ctx_.cleanup_enabled && ctx_.retention.count() == 0) {
                step_ = step::verify_cleanup_requested;
                next = simple(job_action_kind::request_cleanup);
            } else {
                next = finish();
            }
            if (!error.empty()) {
                next.level = log_level::warning;
                next.log = fmt::format("{}/{}: {}", job_.equipment, job_.run_id, error);
            }
            return next;
        }
        case step::verify_cleanup_requested:
        case step::cleanup_scheduled:
            expect<job_events::performed>(event, "the request");
            return finish();
        case step::failure_committed: {
            const bool ok = expect<job_events::committed>(event, "the failure").ok;
            if (!ok || decision_.action != retry_action::quarantine) return finish();
            step_ = step::failure_released;  // re-shipping cannot help: drop the archive first
            return simple(job_action_kind::release);
        }
        case step::failure_released: {
            const auto& error = expect<job_events::released>(event, "the release").error;
            job_action a = simple(job_action_kind::quarantine);
            a.reason = quarantine_reason{job_.equipment,
                                         job_.run_id,
                                         std::string(transports::to_string(failure_.kind)),
                                         failure_.returncode,
                                         failure_.stdout_text,
                                         failure_.message,
                                         failure_attempts_,
                                         {}};
            if (!error.empty()) {
                a.level = log_level::warning;
                a.log = fmt::format("{}/{}: {}", job_.equipment, job_.run_id, error);
            }
            step_ = step::failure_quarantined;
            return a;
        }
        case step::failure_quarantined: {
            const auto& q = expect<job_events::quarantined>(event, "the quarantine");
            if (q.error)
                return finish(log_level::error, fmt::format("{}/{}: quarantine failed: {}", job_.equipment,
                                                            job_.run_id, q.error.message()));
            return finish(
                log_level::warning,
                fmt::format("{}/{}: quarantined to {}{}", job_.equipment, job_.run_id, q.destination.string(),
                            q.moved ? "" : " (run left in place: other filesystem)"));
        }
        case step::start_cleanup:
            expect<job_events::start>(event, "start");
            return cleanup_start();
        case step::cleanup_fingerprinted:
            return cleanup_compare_fingerprint(
                expect<job_events::fingerprinted>(event, "the fingerprint").result);
        case step::cleanup_built:
            return cleanup_compare_files(expect<job_events::built>(event, "the manifest").result);
        case step::cleanup_probed:
            return cleanup_decide(expect<job_events::probed>(event, "the probe").result);
        case step::cleanup_committed:
        case step::cleanup_final_committed: {
            const bool cleaned = step_ == step::cleanup_final_committed;
            expect<job_events::committed>(event, "the cleanup transition");
            if (cleaned)
                return finish(log_level::debug,  // syncd logs the outcome line
                              fmt::format("{}/{}: local run deleted", job_.equipment, job_.run_id));
            return finish();
        }
        case step::cleanup_reverify_committed: {
            if (!expect<job_events::committed>(event, "awaiting_verify").ok) return finish();
            step_ = step::cleanup_scheduled;
            return simple(job_action_kind::schedule_verify);
        }
        case step::cleanup_deleted: {
            const auto& del = expect<job_events::deleted>(event, "the deletion");
            queue::transition_details d;
            if (del.error) {
                d.message = fmt::format("cleanup: deleting the run failed at '{}': {}", del.where,
                                        del.error.message());
                d.error = queue::error_info{"cleanup_failed", d.message};
                step_ = step::cleanup_committed;
                return commit(job_state::verified, std::move(d));
            }
            d.message =
                ctx_.run_gone ? "cleaned: the local run was already gone (" + why_ + ")" : "cleaned: " + why_;
            step_ = step::cleanup_final_committed;
            return commit(job_state::cleaned, std::move(d));
        }
        case step::finished:
            return finish();
    }
    return finish();
}

job_action job_fsm::verify_next() {
    const bool by_archive = job_.archive_sha256 && !job_.archive_sha256->empty();
    if (!by_archive && !local_) {
        // Manifest transports after a restart: hash the run again and make sure it is what was shipped.
        step_ = step::verify_built;
        return simple(job_action_kind::build_manifest);
    }
    if (evidence_) {
        // The safety rule: a push's own proof stands in for the probe only here, right after it.
        auto proof = std::move(*evidence_);
        evidence_.reset();
        return judge(proof);
    }
    step_ = step::verify_probed;
    return simple(job_action_kind::probe);
}

job_action job_fsm::judge(const transports::remote_evidence& remote) {
    const auto j = judge_remote(job_, local_manifest(), remote);
    if (j.result != check_result::match)
        return fail(transport_result::failure(error_kind::hash_mismatch, j.why), false);
    queue::transition_details d;
    d.clear_error = true;
    d.message = job_.archive_sha256 && !job_.archive_sha256->empty()
                    ? fmt::format("verified: remote archive sha256 {}", *job_.archive_sha256)
                    : fmt::format("verified: remote manifest matches ({} files)",
                                  local_ ? local_->entries().size() : std::size_t{0});
    step_ = step::verify_committed;
    return commit(job_state::verified, std::move(d));
}

job_action job_fsm::fail(const transport_result& result, bool counts_attempt) {
    const std::optional<error_kind> previous = stored_error_kind(job_);
    failure_attempts_ = job_.attempts + (counts_attempt ? 1 : 0);
    decision_ = ctx_.policy->decide(result.kind, std::max(failure_attempts_, 1), previous);
    failure_ = result;
    if (failure_.message.empty())
        failure_.message =
            fmt::format("{} (status {})", transports::to_string(result.kind), result.returncode);
    queue::transition_details d;
    d.attempts = counts_attempt ? queue::attempts_update::increment : queue::attempts_update::keep;
    d.error = stored_error(result.kind, failure_.message);
    d.message = fmt::format("{}: {}", decision_.reason, failure_.message);
    const auto level = decision_.action == retry_action::backoff ? log_level::warning : log_level::error;
    auto log = fmt::format("{}/{}: {}", job_.equipment, job_.run_id, d.message);
    job_state to = job_state::failed;
    switch (decision_.action) {
        case retry_action::backoff:
            d.next_attempt_at = ctx_.clock() + decision_.delay;
            to = job_state::queued;
            break;
        case retry_action::immediate_retry:
            to = job_state::queued;
            break;
        case retry_action::fail:
            break;
        case retry_action::quarantine:
            d.message = fmt::format("{}; run moves to {}", d.message, ctx_.quarantine_path);
            break;
    }
    step_ = step::failure_committed;
    auto a = commit(to, std::move(d));
    a.level = level;
    a.log = std::move(log);
    return a;
}

}  // namespace labsync::engine
