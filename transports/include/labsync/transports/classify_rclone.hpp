#pragma once
// Classification of rclone failures into error_kind (SPEC §6, §7). Pure tables, one unit test per
// row (tests/transports/test_classify_rclone.cpp).
//
// rclone exit codes (rclone docs, "Exit Code"): 1 usage, 2 uncategorised, 3 directory not
// found, 4 file not found, 5 temporary (retries may fix), 6 less serious (NoRetry), 7 fatal
// (account suspended, …), 8 --max-transfer reached, 9 nothing transferred
// (--error-on-no-transfer). The messages of its error log lines (--use-json-log: one JSON object
// per line, "level":"error") refine the code: an authentication or host key failure is auth
// whatever the code, a refused or reset connection is network.
//
// Decisions:
// - 7 (fatal) → auth: retrying cannot help and the run itself is fine, so it must not be
//   quarantined; auth is the terminal kind that keeps the run for the operator.
// - 3/4 during a copy mean the *source* (the run) lost a directory or file → local_file_vanished;
//   the probe treats 3 on the remote as "not present" itself before calling this.
// - "no space left" → network, as for rsync: the remote may free space.

#include "labsync/transports/classify_rsync.hpp"
#include "labsync/transports/error_kind.hpp"

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::transports {

std::span<const exit_code_row> rclone_exit_table() noexcept;
// Needles are matched case-insensitively against each error message; auth rows come first.
std::span<const text_pattern_row> rclone_message_table() noexcept;

error_kind kind_for_rclone_exit(int code) noexcept;

// The "msg" of every error-level JSON log line in `stderr_text` (plain lines are kept as they
// are: rclone prints some fatal errors before logging is set up).
std::vector<std::string> rclone_error_messages(std::string_view stderr_text);

// The kind of a finished rclone command: its messages first, then the exit code.
error_kind classify_rclone(int exit_code, std::string_view stderr_text);

// The kind of a failed remote control call (`rclone rcd`): `http_status` of the answer (0 for a
// job that ended in error, whose job/status has no status) and its "error" text. The message
// table first; then rclone's "not found" errors (HTTP 404, or the texts of exit codes 3/4) are
// local_file_vanished as in a copy (the probe and the existence check treat "not found" on the
// remote as "absent" before calling this); anything else is unknown.
error_kind classify_rclone_rc(int http_status, std::string_view error_text);

}  // namespace labsync::transports
