#pragma once
// job_store's private state and the row <-> struct mapping shared by its write and query files.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "labsync/queue/job_store.hpp"
#include "schema.hpp"

namespace labsync::queue {

struct job_store::impl {
    std::filesystem::path path;
    clock_fn clock;
    std::mutex mutex;  // one connection, one caller at a time
    std::unique_ptr<SQLite::Database> db;
    replay_report replay;
    int owner_lock_fd = -1;                 // flock(LOCK_EX) on <path>.lock while this store owns the queue
    std::atomic<std::uint64_t> commits{0};  // counted by SQLite's commit hook on `db`

    ~impl();
    time_point now() const { return clock ? clock() : std::chrono::system_clock::now(); }
};

namespace detail {

// A row whose contents this code cannot interpret (hand-edited or damaged store).
struct bad_row : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline constexpr const char* job_columns =
    "id, equipment, run_id, run_path, state, attempts, next_attempt_at, last_error_kind, last_error, bytes, "
    "manifest_digest, archive_sha256, created_at, updated_at, started_at, finished_at, tree_digest, "
    "fingerprint_digest";

inline std::int64_t to_ms(time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
inline time_point from_ms(std::int64_t ms) {
    return time_point(std::chrono::milliseconds(ms));
}

job_state parse_state(const std::string& text, const char* column);

// transition()'s check and write inside the caller's open transaction (job_store.cpp): re-reads
// the job, refuses what state_machine or the operator rules refuse (writing nothing), else
// updates the job and appends the event.
store_error apply_transition(job_store::impl& p, std::int64_t job_id, job_state to,
                             const transition_details& details);
job read_job(SQLite::Statement& row);  // the row was selected with job_columns

// Binds an optional value or NULL.
void bind_opt(SQLite::Statement& q, int index, const std::optional<std::string>& v);
void bind_opt(SQLite::Statement& q, int index, const std::optional<std::int64_t>& v);
void bind_opt(SQLite::Statement& q, int index, const std::optional<time_point>& v);

}  // namespace detail
}  // namespace labsync::queue

namespace labsync::queue::detail {

// The exception being handled (inside a catch block) as a store_error naming the store and `what`.
inline store_error current_failure(const job_store::impl& p, const std::string& what) {
    try {
        throw;
    } catch (const bad_row& e) {
        return make_store_error(errc::corrupt_database,
                                "job store " + p.path.string() + ": " + what + ": " + e.what());
    } catch (const std::exception& e) {
        return from_sqlite(e, p.path, what);
    }
}

// Runs `body` under the store's mutex and turns SQLite exceptions and unreadable rows into a
// store_error naming the store and the operation: nothing throws out of the job store.
template <class F>
auto guarded(job_store::impl& p, const std::string& what, F&& body) -> decltype(body()) {
    std::lock_guard lock(p.mutex);
    try {
        return body();
    } catch (...) {
        return current_failure(p, what);
    }
}

}  // namespace labsync::queue::detail
