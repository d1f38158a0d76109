#pragma once
// The job lifecycle as a sans-I/O state machine (SPEC §5, §7): every decision the engine takes
// for one job on one worker, with no I/O, no clock of its own and no Asio. The engine's coroutine
// is a thin driver:
//
//     job_fsm fsm = job_fsm::ship(job, context);
//     job_event ev = job_events::start{};
//     for (;;) {
//         job_action a = fsm.resume(std::move(ev));
//         if (a.kind == job_action_kind::done) break;
//         ev = co_await perform(a);            // commit, build, push, probe, release, ...
//     }
//
// Three entries: ship (a queued job: running -> build -> push -> awaiting_verify -> verify; for a
// transport whose push hashes the run: running -> push (bringing the manifest) -> awaiting_verify),
// verify (an awaiting_verify job: replay, force_verify, cleanup's re-verification) and cleanup
// (a cleanup_eligible job: the deletion interlocks). Cleanup's local interlock first compares the
// run's stat fingerprint recorded at ship time (verifier/fingerprint.hpp, no file content read);
// only when it differs, is missing, or cleanup_rehash is set does it re-hash the whole run. A failure
// anywhere goes through the retry policy (retry_policy.hpp) to queued / failed / failed + quarantine.
//
// Safety rule (push evidence): what a push proved in its own round trip (transports::push_result
// ::evidence: the receiver's sha256 of the bytes it fsynced, rsync's manifest computed after the
// rename) replaces the probe only in the verification right after that push, inside the same
// ship(). verify() and cleanup() start without evidence and always probe the remote now.
//
// The driver stops performing actions when the engine stops; the job then stays in its last
// committed state and is replayed by the next open().

#include "labsync/common/log.hpp"
#include "labsync/engine/cleanup_decision.hpp"
#include "labsync/engine/retry_policy.hpp"
#include "labsync/engine/run_files.hpp"
#include "labsync/queue/job_store.hpp"
#include "labsync/transports/transport.hpp"
#include "labsync/verifier/fingerprint.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace labsync::engine {

using common::log_level;

enum class job_action_kind {
    commit,           // write the transition `to` with `details`, durable before what follows
    build_manifest,   // hash the local run (the verifier, on the CPU pool)
    fingerprint,      // stat-walk the local run, no file content read (verifier::fingerprint_run, CPU pool)
    push,             // transport push of the run with local_manifest()
    probe,            // transport probe: ask the remote now
    release,          // transport release(equipment, run): drop local artefacts (outbox archive)
    quarantine,       // move the run to quarantine with `reason`
    delete_run,       // remove the run tree (rename to a tombstone, then delete)
    schedule_verify,  // hand the job to a worker of its equipment for verification
    request_cleanup,  // run a cleanup pass soon (retention 0)
    done,             // nothing more for this job now
};

std::string_view to_string(job_action_kind kind) noexcept;

struct job_action {
    job_action_kind kind = job_action_kind::done;
    queue::job_state to = queue::job_state::queued;  // commit
    queue::transition_details details;               // commit
    bool report_progress = true;                     // build_manifest (`hashing`), probe (`verifying`)
    std::optional<quarantine_reason> reason;         // quarantine (`at` is stamped by the driver)
    // A line the driver logs before performing the action (none when empty).
    log_level level = log_level::info;
    std::string log;
};

// The results of actions, fed back to resume().
namespace job_events {
struct start {};
struct committed {
    bool ok = false;  // false: refused for good (or the engine stopped while retrying)
};
struct built {
    verifier::build_result result;
};
struct fingerprinted {
    verifier::fingerprint_result result;
};
struct pushed {
    transports::push_result result;
};
struct probed {
    transports::probe_result result;
};
struct released {
    std::string error;  // empty: done
};
struct quarantined {
    std::error_code error;
    std::filesystem::path destination;
    bool moved = false;  // false: another filesystem, the run stayed in place
};
struct deleted {
    std::error_code error;
    std::string where;
};
struct performed {};  // schedule_verify, request_cleanup
}  // namespace job_events

using job_event =
    std::variant<job_events::start, job_events::committed, job_events::built, job_events::pushed,
                 job_events::probed, job_events::released, job_events::quarantined, job_events::deleted,
                 job_events::performed, job_events::fingerprinted>;

// What the machine needs to know about the job's equipment and the engine, fixed for one pass.
struct job_context {
    std::string transport_name;                // "shipping via <name>"
    bool push_hashes_run = false;              // transport::push_hashes_run(): ship without a manifest pass
    const retry_policy* policy = nullptr;      // required by every failure
    std::function<queue::time_point()> clock;  // the engine's wall clock (backoff, retention)
    std::string quarantine_path;               // for the event message: <quarantine>/<eq>/<run>
    bool cleanup_enabled = false;
    std::chrono::seconds retention{0};
    // cleanup() only: facts the driver read just before the pass.
    bool under_watermark = false;
    bool run_gone = false;  // lstat of the run path said ENOENT (a deletion interrupted after its rename)
    bool cleanup_rehash = false;  // always re-hash the run at cleanup, never trust its fingerprint
};

// The one comparison of a remote copy with what the job shipped (verification and cleanup).
struct remote_judgement {
    check_result result = check_result::unknown;
    std::string why;  // empty on match
};
// `local` (may be null) only improves the message; the job's recorded digests decide: the
// archive sha256 when the job has one, else the manifest digest (or, without one, `local`).
remote_judgement judge_remote(const queue::job& job, const verifier::manifest* local,
                              const transports::remote_evidence& remote);

// What ship records as the job's fingerprint_digest: the hex digest of the pass that hashed the
// run when it is exact (verifier::fingerprint_result), else "" (none: cleanup will re-hash).
std::string fingerprint_to_record(const verifier::build_result& built);

// The pick policy for queued jobs: the first job of `queued` (oldest first, as the store lists
// them) that nobody holds (`in_flight`) and is due: next_attempt_at and an in-memory not-before
// (API-enqueued runs still settling) both passed. Otherwise the earliest time one becomes due.
struct pick_result {
    std::optional<std::size_t> index;  // into `queued`
    std::optional<queue::time_point> wake_at;
};
pick_result pick_due(const std::vector<queue::job>& queued, const std::set<std::int64_t>& in_flight,
                     const std::map<std::int64_t, queue::time_point>& not_before, queue::time_point now);

class job_fsm {
public:
    static job_fsm ship(queue::job job, job_context context);
    static job_fsm verify(queue::job job, job_context context);
    static job_fsm cleanup(queue::job job, job_context context);

    // The next action, given the result of the previous one (start{} first). After `done`,
    // resume() keeps answering done. An event that does not answer the last action is a
    // programming error (std::logic_error).
    job_action resume(job_event event);

    const queue::job& job() const noexcept { return job_; }
    // The local manifest for push/probe requests (null until the run was hashed).
    const verifier::manifest* local_manifest() const noexcept { return local_ ? &*local_ : nullptr; }

private:
    enum class step {
        start_ship,
        start_verify,
        start_cleanup,
        ship_running,
        ship_built,
        ship_pushed,
        ship_awaiting,
        verify_built,
        verify_probed,
        verify_committed,
        verify_released,
        verify_cleanup_requested,
        failure_committed,
        failure_released,
        failure_quarantined,
        cleanup_fingerprinted,
        cleanup_built,
        cleanup_probed,
        cleanup_committed,
        cleanup_reverify_committed,
        cleanup_scheduled,
        cleanup_deleted,
        cleanup_final_committed,
        finished,
    };

    job_fsm(step first, queue::job job, job_context context);
    job_action verify_next();
    job_action judge(const transports::remote_evidence& remote);
    job_action fail(const transports::transport_result& result, bool counts_attempt);
    // cleanup (job_fsm_cleanup.cpp)
    job_action cleanup_start();
    job_action cleanup_compare_fingerprint(const verifier::fingerprint_result& walked);
    job_action cleanup_rehash(std::string log = {});
    job_action cleanup_compare_files(verifier::build_result& built);
    job_action cleanup_probe();
    job_action cleanup_decide(const transports::probe_result& probe);
    job_action finish(log_level level = log_level::info, std::string log = {});
    void take_built(verifier::build_result& built);  // the run's manifest for awaiting_verify
    job_action shipped();                            // commit awaiting_verify after the push

    step step_;
    queue::job job_;
    job_context ctx_;
    std::optional<verifier::manifest> local_;
    // The push's proof, only between ship_pushed and the verification that follows it.
    std::optional<transports::remote_evidence> evidence_;
    std::optional<transports::push_result> pushed_;  // the push, until awaiting_verify is committed
    // failure path
    retry_decision decision_;
    transports::transport_result failure_;
    int failure_attempts_ = 0;
    // cleanup path
    cleanup_situation situation_;
    cleanup_verdict verdict_;
    std::string local_note_, why_;                // the local interlock's finding; the verdict with its note
    queue::transition_details awaiting_details_;  // awaiting_verify's details, completed by the push
};

}  // namespace labsync::engine
