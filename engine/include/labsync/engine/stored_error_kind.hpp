#pragma once
// How a transport's error kind is kept in the job store. The store's `last_error_kind` column is
// text shared with the engine's and the queue's own kinds ("validation", "cancelled",
// "local_changed", "cleanup_failed"); `syncd status`, the admin JSON and the metrics labels show
// it. These two functions are the one place a transports::error_kind becomes that text and back
// (through the names of transports::to_string); the names are a file format that existing
// jobs.db files hold, pinned by tests/engine/test_stored_error_kind.cpp.

#include "labsync/queue/job.hpp"
#include "labsync/queue/job_store.hpp"
#include "labsync/transports/error_kind.hpp"

#include <optional>
#include <string>

namespace labsync::engine {

// The error a failed transport operation leaves on its job.
queue::error_info stored_error(transports::error_kind kind, std::string text);

// The transport error kind the job's last failure recorded; nullopt when it recorded none or a
// kind that is not a transport's (validation, cancelled, local_changed, cleanup_failed).
std::optional<transports::error_kind> stored_error_kind(const queue::job& job);

}  // namespace labsync::engine
