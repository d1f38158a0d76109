// The pure rules job_fsm and the engine's workers share: which queued job is due, how a remote
// copy compares with what was shipped, what a local hashing error means. See job_fsm.hpp.
#include "labsync/engine/job_fsm.hpp"

#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include <fmt/format.h>

namespace labsync::engine {

using transports::error_kind;

std::string_view to_string(job_action_kind kind) noexcept {
    switch (kind) {
        case job_action_kind::commit:
            return "commit";
        case job_action_kind::build_manifest:
            return "build_manifest";
        case job_action_kind::fingerprint:
            return "fingerprint";
        case job_action_kind::push:
            return "push";
        case job_action_kind::probe:
            return "probe";
        case job_action_kind::release:
            return "release";
        case job_action_kind::quarantine:
            return "quarantine";
        case job_action_kind::delete_run:
            return "delete_run";
        case job_action_kind::schedule_verify:
            return "schedule_verify";
        case job_action_kind::request_cleanup:
            return "request_cleanup";
        case job_action_kind::done:
            return "done";
    }
    return "unknown";
}

remote_judgement judge_remote(const queue::job& job, const verifier::manifest* local,
                              const transports::remote_evidence& remote) {
    if (!remote.present) return {check_result::mismatch, "the remote has no copy of this run"};
    if (job.archive_sha256 && !job.archive_sha256->empty()) {
        if (remote.archive_sha256 == job.archive_sha256) return {check_result::match, {}};
        return {check_result::mismatch,
                fmt::format("remote archive sha256 {} differs from the shipped {}",
                            remote.archive_sha256.value_or("(none)"), *job.archive_sha256)};
    }
    if (!remote.remote_manifest)
        return {check_result::unknown, "the probe returned neither a manifest nor an archive sha256"};
    const auto& theirs = *remote.remote_manifest;
    bool same = false;
    if (job.manifest_digest)
        same = verifier::to_hex(theirs.digest()) == *job.manifest_digest;
    else if (local)
        same = verifier::same_files(*local, theirs);
    else
        return {check_result::unknown, "the job records no manifest digest to compare with"};
    if (same) return {check_result::match, {}};
    if (local)
        return {check_result::mismatch, "remote differs: " + verifier::compare(*local, theirs).summary()};
    return {check_result::mismatch, fmt::format("remote manifest digest {} differs from the shipped {}",
                                                verifier::to_hex(theirs.digest()), *job.manifest_digest)};
}

pick_result pick_due(const std::vector<queue::job>& queued, const std::set<std::int64_t>& in_flight,
                     const std::map<std::int64_t, queue::time_point>& not_before, queue::time_point now) {
    pick_result out;
    for (std::size_t i = 0; i < queued.size(); ++i) {
        const auto& j = queued[i];
        if (in_flight.count(j.id)) continue;
        auto due = j.next_attempt_at.value_or(queue::time_point::min());
        if (auto nb = not_before.find(j.id); nb != not_before.end()) due = std::max(due, nb->second);
        if (due > now) {
            if (!out.wake_at || due < *out.wake_at) out.wake_at = due;
            continue;
        }
        out.index = i;
        return out;
    }
    return out;
}

}  // namespace labsync::engine
