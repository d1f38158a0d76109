#pragma once
// The durable job store: one SQLite file (WAL, synchronous=FULL) holding jobs, their event history
// and operator overrides. Every state change is one BEGIN IMMEDIATE transaction that re-reads the
// job's current state, checks it against state_machine, updates the job and appends an event, so
// the record is on disk before the engine performs the side effect it announces.
//
// Thread-safe: one connection guarded by a mutex (the engine's I/O thread and the admin socket
// may call concurrently). Calls block on disk (fsync), a few ms each; see bench/README.md.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "labsync/queue/job.hpp"
#include "labsync/queue/job_state.hpp"
#include "labsync/queue/store_error.hpp"

namespace labsync::queue {

using clock_fn = std::function<time_point()>;

struct store_options {
    clock_fn clock;  // empty = std::chrono::system_clock::now
    std::chrono::milliseconds busy_timeout{5000};
    // Only the process that owns the queue (the daemon / embedded engine) replays on open; it
    // holds an exclusive flock on "<path>.lock" while open, so a second owner gets
    // errc::store_in_use. An inspecting tool opens with replay = false: no lock, no replay
    // (an old schema is still migrated forward).
    bool replay = true;
};

// What open() did to jobs left behind by a previous process.
struct replay_report {
    std::vector<std::int64_t> requeued;         // were running, now queued (event "replayed after restart")
    std::vector<std::int64_t> to_reverify;      // are awaiting_verify: the engine verifies them again
    std::vector<std::int64_t> cleanup_pending;  // are cleanup_eligible: the engine re-runs the interlocks
    int from_schema_version = 0;                // 0 = file was created now
    int schema_version = 0;                     // after migrations
};

enum class attempts_update { keep, increment, reset };

struct error_info {
    std::string kind;  // TransportResult error_kind ("network", "auth", ...) or an engine kind
    std::string text;
};

// What a transition writes besides the state. Fields left empty keep their stored value, except
// next_attempt_at, which is always written (empty = NULL = due now when queued). Every member has
// a default initializer so designated initializers ({.message = ..., .bytes = ...}) compile
// warning-free under -Wextra.
struct transition_details {
    std::string message{};              // the event's message
    std::optional<error_info> error{};  // sets last_error_kind / last_error
    bool clear_error = false;           // clears them (ignored when `error` is set)
    std::optional<time_point> next_attempt_at{};
    attempts_update attempts = attempts_update::keep;
    std::optional<std::int64_t> bytes{};
    std::optional<std::string> manifest_digest{};
    std::optional<std::string> archive_sha256{};
    std::optional<std::string> tree_digest{};
    std::optional<std::string> fingerprint_digest{};  // "" records that there is none
};

// One transition of a group commit (job_store::transition_all).
struct transition_request {
    std::int64_t job_id = 0;
    job_state to = job_state::queued;
    transition_details details{};
};

class job_store {
public:
    // Opens (creating if missing) the store at `path` and replays (see replay_report). Refuses,
    // without writing a byte: a file that is not SQLite, a SQLite file of another application,
    // a file failing its integrity check, a schema newer than this code. Older schemas are
    // migrated forward in one transaction.
    static result<job_store> open(const std::filesystem::path& path, store_options options = {});

    job_store(job_store&&) noexcept;
    job_store& operator=(job_store&&) noexcept;
    ~job_store();

    const std::filesystem::path& path() const noexcept;
    const replay_report& replayed() const noexcept;
    static int current_schema_version() noexcept;

    // --- writes (each one BEGIN IMMEDIATE transaction, synchronous=FULL) ---

    // A new job in `initial` (queued or blocked_by_validation) with a `created` event. A second
    // live job for (equipment, run_id) -> errc::duplicate_live_job with store_error::job_id set.
    // `error` sets last_error_kind / last_error (a blocked job: why it is blocked).
    result<job> create_job(const std::string& equipment, const std::string& run_id,
                           const std::string& run_path, job_state initial, const std::string& message,
                           const std::optional<error_info>& error = std::nullopt);

    // Moves the job from its CURRENT stored state to `to` if state_machine allows it. Leaving
    // blocked_by_validation or failed is refused here: use record_override() / retry().
    // started_at is set on entry into running; finished_at on entry into verified or failed and
    // cleared on entry into queued or running.
    store_error transition(std::int64_t job_id, job_state to, const transition_details& details);

    // Group commit: the requests, independent of each other, in ONE transaction with one commit
    // (one fsync). Each is checked and applied exactly as transition() would, inside a savepoint
    // of its own, so a refused one writes nothing and does not affect the others. Returns one
    // store_error per request, in order; when the commit itself fails, every request that was
    // applied gets that error (nothing of the batch is on disk). All of them are durable when
    // this returns without error for them.
    std::vector<store_error> transition_all(const std::vector<transition_request>& requests);

    // Operator override of a validation block: blocked_by_validation -> queued (the block's error
    // cleared), the override row and the event in one transaction. who/why must be non-empty.
    store_error record_override(std::int64_t job_id, const std::string& who, const std::string& why);

    // Operator retry: failed -> queued, attempts reset, error and next_attempt_at cleared. The
    // event reads "retry by WHO" (+ " (NOTE)" when a note is given).
    store_error retry(std::int64_t job_id, const std::string& who, const std::string& note = {});

    // Operator cancel: queued or awaiting_verify -> failed with last_error_kind "cancelled", one
    // transaction re-checking the state (a job a worker just started is refused: running). The
    // event (kind cancel) reads "cancel by WHO: WHY". who/why must be non-empty.
    store_error cancel(std::int64_t job_id, const std::string& who, const std::string& why);

    // --- queries ---
    result<job> find(std::int64_t job_id);
    result<std::optional<job>> find_live(const std::string& equipment, const std::string& run_id);
    // The oldest queued job of `equipment` whose next_attempt_at is NULL or <= now.
    result<std::optional<job>> next_due(const std::string& equipment, time_point now);
    // When the next queued job of `equipment` becomes due (<= now: one is due already);
    // empty when it has no queued job.
    result<std::optional<time_point>> earliest_next_attempt(const std::string& equipment);
    result<state_counts> counts();
    result<std::vector<job>> jobs_in_state(job_state state);
    result<std::vector<job>> list(const job_filter& filter);
    result<std::vector<job_event>> events(std::int64_t job_id);
    result<std::vector<job_override>> overrides(std::int64_t job_id);
    result<std::vector<std::string>> equipment_names();  // every equipment that has a job, sorted

    // The clock the store stamps rows with (the injected one).
    time_point now() const;

    // Write transactions this store's connection has committed since open (each one fsync of
    // the WAL under synchronous=FULL): what group commit saves is visible here.
    std::uint64_t commit_count() const noexcept;

    struct impl;  // opaque; defined in queue/src/store_impl.hpp

private:
    explicit job_store(std::unique_ptr<impl> p) noexcept;
    std::unique_ptr<impl> impl_;
};

}  // namespace labsync::queue
