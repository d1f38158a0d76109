#pragma once
// Classification of rsync and ssh failures into error_kind (SPEC §6, §7). Pure tables, one unit
// test per row (tests/transports/test_classify_rsync.cpp); the rsync_ssh driver only feeds them.
//
// Decisions:
// - ssh's stderr is only trusted when the failure happened at the connection layer (ssh exit 255,
//   rsync 5/10/12/255): rsync itself prints "Permission denied (13)" for a local or remote file
//   it cannot open, which is not an authentication failure.
// - "No space left on device" → network: the remote may free space (an operator, a cleanup
//   job), so backing off and retrying is the useful reaction, not failing the run for good.
// - rsync 24 or "file has vanished" → local_file_vanished: the run changed under us.
// - Exit codes that mean a bug or a misconfiguration on our side (1 usage, 2 protocol, 4 action
//   not supported, …) → unknown: retried with backoff, visible in last_error, never quarantined
//   (the run itself is fine).

#include "labsync/transports/error_kind.hpp"

#include <optional>
#include <span>
#include <string_view>

namespace labsync::transports {

struct exit_code_row {
    int code;
    error_kind kind;
    std::string_view meaning;
};

struct text_pattern_row {
    std::string_view needle;  // matched case-sensitively as a substring
    error_kind kind;
};

// rsync's documented exit codes (rsync(1) "EXIT VALUES") plus 255 (ssh failed).
std::span<const exit_code_row> rsync_exit_table() noexcept;
// ssh client messages, auth first (first match wins).
std::span<const text_pattern_row> ssh_stderr_table() noexcept;
// rsync messages that override the exit code wherever they appear.
std::span<const text_pattern_row> rsync_stderr_table() noexcept;

// Row lookup; codes not in the table → unknown.
error_kind kind_for_rsync_exit(int code) noexcept;
std::string_view rsync_exit_meaning(int code) noexcept;
// First matching row of `table` in `text`.
std::optional<error_kind> match_patterns(std::span<const text_pattern_row> table,
                                         std::string_view text) noexcept;

// The kind of a finished rsync run: exit code, refined by its stderr.
error_kind classify_rsync(int exit_code, std::string_view stderr_text) noexcept;
// The kind of a finished `ssh … command`: 255 is ssh's own failure (stderr says which);
// any other non-zero code comes from the remote command → unknown.
error_kind classify_ssh(int exit_code, std::string_view stderr_text) noexcept;

}  // namespace labsync::transports
