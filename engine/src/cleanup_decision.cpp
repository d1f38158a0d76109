#include "labsync/engine/cleanup_decision.hpp"

#include <algorithm>

namespace labsync::engine {

std::string_view to_string(cleanup_action action) noexcept {
    switch (action) {
        case cleanup_action::keep:
            return "keep";
        case cleanup_action::delete_run:
            return "delete";
        case cleanup_action::back_to_verified:
            return "back_to_verified";
        case cleanup_action::reverify:
            return "reverify";
        case cleanup_action::fail:
            return "fail";
    }
    return "unknown";
}

bool retention_passed(const cleanup_situation& s) noexcept {
    return s.verified_at && s.now >= *s.verified_at + s.retention;
}

cleanup_verdict decide_cleanup(const cleanup_situation& s) {
    using queue::job_state;
    if (s.state != job_state::cleanup_eligible) return {cleanup_action::keep, "not cleanup_eligible"};
    if (!s.cleanup_enabled)
        return {cleanup_action::back_to_verified, "cleanup is disabled for this equipment"};
    if (!retention_passed(s) && !s.under_watermark)
        return {cleanup_action::back_to_verified,
                "retention has not passed and free space is above the watermark"};
    if (!s.has_verified_digest)
        return {cleanup_action::reverify, "the job records no verified digest to compare with", true};
    // The local check comes first: if the local copy changed, it must never be deleted, whatever
    // the remote says.
    if (s.local == check_result::mismatch)
        return {cleanup_action::fail,
                "the local run (files or tree) no longer matches what was verified; kept for the operator",
                true};
    if (s.remote == check_result::mismatch)
        return {cleanup_action::reverify, "the remote copy no longer matches what was verified", true};
    if (s.local == check_result::unknown)
        return {cleanup_action::back_to_verified, "the local files could not be checked now", true};
    if (s.remote == check_result::unknown)
        return {cleanup_action::back_to_verified, "the remote copy could not be re-confirmed now", true};
    return {cleanup_action::delete_run,
            retention_passed(s)
                ? "verified, retention passed, remote re-confirmed, local unchanged"
                : "verified, free space under the watermark, remote re-confirmed, local unchanged"};
}

std::vector<cleanup_candidate> select_cleanup_candidates(const std::vector<queue::job>& verified_jobs,
                                                         queue::time_point now,
                                                         std::chrono::seconds retention,
                                                         bool under_watermark) {
    std::vector<cleanup_candidate> out;
    for (const auto& j : verified_jobs) {
        if (j.state != queue::job_state::verified) continue;
        const auto at = j.finished_at.value_or(j.updated_at);
        const bool passed = now >= at + retention;
        if (passed || under_watermark) out.push_back({j.id, at, passed});
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        if (a.retention_passed != b.retention_passed) return a.retention_passed;
        if (a.verified_at != b.verified_at) return a.verified_at < b.verified_at;
        return a.job_id < b.job_id;
    });
    return out;
}

}  // namespace labsync::engine
