#pragma once
// The uniform failure classification of every transport (SPEC §6). The retry policy (engine)
// decides what each kind means; transports only classify.
//
// error_kind is also the transports module's errc (like queue::errc, engine::errc): a
// std::error_code of category "labsync.transports" converts from it, none (0) being success.
// The values are fixed; the job store keeps the names (see engine/stored_error_kind.hpp).

#include <optional>
#include <string_view>
#include <system_error>

namespace labsync::transports {

enum class error_kind {
    none = 0,             // success
    network = 1,          // refused, reset, timeout, 5xx, 507: retry with backoff
    auth,                 // 401/403, ssh "Permission denied", host key failures: terminal
    hash_mismatch,        // remote bytes differ from ours: one immediate retry, then failed
    local_file_vanished,  // a local file went away or changed while shipping: terminal
    conflict,             // the remote holds different content under the same id: terminal
    rejected,             // the receiver refuses this run for good (400/412): quarantine
    misconfigured,        // sender and receiver settings disagree (411/413): terminal, not
                          // quarantined; the run ships after the fix and `syncd retry`
    binary_missing,       // rsync/ssh/rclone not found: treated like hash_mismatch
    unknown,              // anything unclassified: retry with backoff
};

// The one table of kind names ("network", "hash_mismatch", ...).
std::string_view to_string(error_kind kind) noexcept;
std::optional<error_kind> error_kind_from_string(std::string_view text) noexcept;

// A local error met while hashing or packing a run (the verifier's codes, ENOENT) as an error kind:
// vanished, changed or not a directory -> local_file_vanished; anything else (a full outbox disk,
// EIO) -> unknown, retried with backoff. Used by the engine and by http_put's packer.
error_kind kind_of_local_error(const std::error_code& ec) noexcept;

using errc = error_kind;
const std::error_category& transports_category() noexcept;
std::error_code make_error_code(error_kind kind) noexcept;

}  // namespace labsync::transports

template <>
struct std::is_error_code_enum<labsync::transports::error_kind> : std::true_type {};
