// job_fsm's cleanup pass (SPEC §10): the local interlock, the remote re-confirmation and the
// verdict. See job_fsm.hpp; no I/O here either.
#include "labsync/engine/job_fsm.hpp"

#include "job_fsm_steps.hpp"

#include "labsync/verifier/errc.hpp"

#include <fmt/format.h>

namespace labsync::engine {

using detail::commit;
using detail::simple;
using queue::job_state;
using transports::error_kind;

std::string fingerprint_to_record(const verifier::build_result& built) {
    const auto fp = verifier::fingerprint_digest(built);
    return fp.ok() && fp.exact ? verifier::to_hex(fp.digest) : std::string();
}

job_action job_fsm::cleanup_start() {
    situation_ = {};
    situation_.state = job_.state;
    situation_.cleanup_enabled = ctx_.cleanup_enabled;
    situation_.verified_at = job_.finished_at;
    situation_.now = ctx_.clock();
    situation_.retention = ctx_.retention;
    situation_.under_watermark = ctx_.under_watermark;
    situation_.has_verified_digest = job_.manifest_digest.has_value();
    // A deletion interrupted after the run left its path: nothing left to keep.
    if (ctx_.run_gone) {
        situation_.local = check_result::match;
        step_ = step::cleanup_probed;
        return cleanup_probe();
    }
    if (ctx_.cleanup_rehash || !job_.fingerprint_digest || job_.fingerprint_digest->empty())
        return cleanup_rehash();  // asked for, or shipped without a fingerprint (before v4, racy)
    step_ = step::cleanup_fingerprinted;
    return simple(job_action_kind::fingerprint);
}

job_action job_fsm::cleanup_compare_fingerprint(const verifier::fingerprint_result& walked) {
    if (walked.ok() && verifier::to_hex(walked.digest) == *job_.fingerprint_digest) {
        // Nothing written, replaced, touched, added or removed since the pass whose bytes were
        // hashed and verified: the files and the tree are still the verified ones.
        situation_.local = check_result::match;
        step_ = step::cleanup_probed;
        return cleanup_probe();
    }
    // A changed fingerprint is not a changed run (a touch, a copy back in place): the full
    // re-hash and the recorded digests decide.
    return cleanup_rehash(fmt::format(
        "{}/{}: cleanup: {}; re-hashing the run", job_.equipment, job_.run_id,
        walked.ok() ? "its stat fingerprint changed since it was shipped"
                    : fmt::format("cannot walk it at '{}' ({})", walked.error_path, walked.error.message())));
}

job_action job_fsm::cleanup_rehash(std::string log) {
    step_ = step::cleanup_built;
    auto a = simple(job_action_kind::build_manifest);
    a.report_progress = false;
    a.log = std::move(log);
    return a;
}

job_action job_fsm::cleanup_compare_files(verifier::build_result& built) {
    // Interlock: the local tree still matches what was verified: the files (manifest
    // digest) and every other entry (tree digest: directories, symlinks, special files).
    if (built.ok()) {
        const bool files_match =
            job_.manifest_digest && verifier::to_hex(built.manifest.digest()) == *job_.manifest_digest;
        // Jobs shipped before the tree digest was recorded are compared by their files only.
        const bool tree_matches =
            !job_.tree_digest || verifier::to_hex(verifier::tree_digest(built)) == *job_.tree_digest;
        situation_.local = files_match && tree_matches ? check_result::match : check_result::mismatch;
        if (!files_match)
            local_note_ = "files differ from the verified manifest";
        else if (!tree_matches)
            local_note_ = fmt::format(
                "entries added or removed after verification (the tree now holds {} directories, "
                "{} symlinks or other non-file entries)",
                built.directories.size(), built.findings.size());
        local_ = std::move(built.manifest);
    } else if (built.error == verifier::errc::local_file_vanished ||
               built.error == verifier::errc::local_file_changed) {
        situation_.local = check_result::mismatch;
    }
    // Interlock: the remote copy is re-confirmed now (never from an earlier push).
    step_ = step::cleanup_probed;
    return cleanup_probe();
}

job_action job_fsm::cleanup_probe() {
    auto a = simple(job_action_kind::probe);
    a.report_progress = false;  // not a job's `verifying` step: the job stays cleanup_eligible
    return a;
}

job_action job_fsm::cleanup_decide(const transports::probe_result& probe) {
    std::string remote_note;
    if (!probe.status.ok) {
        // The remote answered that its bytes no longer match (a re-hash, not a record): never
        // delete; verify again, which re-ships once (SPEC §7).
        if (probe.status.kind == error_kind::hash_mismatch) situation_.remote = check_result::mismatch;
        remote_note = probe.status.message;
    } else {
        const auto j = judge_remote(job_, local_manifest(), probe);
        situation_.remote = j.result;
        remote_note = j.why;
    }
    verdict_ = decide_cleanup(situation_);
    const auto& note = situation_.local == check_result::mismatch ? local_note_ : remote_note;
    why_ = note.empty() ? verdict_.reason : fmt::format("{} ({})", verdict_.reason, note);
    queue::transition_details d;
    d.message = "cleanup: " + why_;
    job_action a;
    switch (verdict_.action) {
        case cleanup_action::keep:
            a = finish();
            break;
        case cleanup_action::back_to_verified:
            step_ = step::cleanup_committed;
            a = commit(job_state::verified, std::move(d));
            break;
        case cleanup_action::reverify:
            step_ = step::cleanup_reverify_committed;
            a = commit(job_state::awaiting_verify, std::move(d));
            break;
        case cleanup_action::fail:
            d.error = queue::error_info{"local_changed", why_};
            step_ = step::cleanup_committed;
            a = commit(job_state::failed, std::move(d));
            break;
        case cleanup_action::delete_run:
            step_ = step::cleanup_deleted;
            a = simple(job_action_kind::delete_run);
            break;
    }
    if (verdict_.interlock_failed) {
        a.level = log_level::warning;
        a.log = fmt::format("{}/{}: cleanup refused: {}", job_.equipment, job_.run_id, why_);
    }
    return a;
}

}  // namespace labsync::engine
