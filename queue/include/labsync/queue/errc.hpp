#pragma once
// Error codes of the queue module (state machine and SQLite job store).

#include <system_error>

namespace labsync::queue {

enum class errc {
    illegal_transition = 1,  // the state machine refuses (from, to); nothing was written
    duplicate_live_job,      // a live job already holds this (equipment, run)
    job_not_found,           // no job with that id
    invalid_argument,        // bad equipment name, run id, initial state, empty who/why, ...
    foreign_database,        // the file is not a labsync job store (not SQLite, or another app's)
    corrupt_database,        // a labsync store that fails its integrity check or cannot be read
    newer_schema,            // written by a newer labsync: this code does not know its schema
    cannot_open,             // the file or its directory cannot be opened/created
    sqlite_error,            // any other SQLite failure (message carries SQLite's text)
    store_in_use,            // another process already owns (replays and drives) this store
    store_busy,              // another connection held the write lock past busy_timeout; nothing
                             // was written, the same write may be tried again
    store_full,              // the disk holding the store is full (SQLITE_FULL); nothing was
                             // written, the same write may succeed once space is freed
    store_io,                // an I/O error while writing (SQLITE_IOERR); nothing was committed
};

// The one retryability rule of the store: true when the refused write changed nothing and the
// same write may succeed later without anyone changing the request (busy, full, I/O error).
bool is_transient(std::error_code code) noexcept;

const std::error_category& queue_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace labsync::queue

template <>
struct std::is_error_code_enum<labsync::queue::errc> : std::true_type {};
