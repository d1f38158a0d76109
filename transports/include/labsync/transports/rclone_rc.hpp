#pragma once
// The pure half of driving one long-lived `rclone rcd` over its remote control (rc) API: the
// daemon's argv, the JSON bodies of the calls the rclone driver makes, and parsers for the
// answers. No I/O, so every rule is unit-tested (tests/transports/test_rclone_rc.cpp).
//
// Calls used (rclone 1.60): operations/list (existence, and the SHA-256 manifest where the backend
// hashes SHA-256 itself), operations/fsinfo (which hashes the backend has), sync/sync (into
// staging; answered when the transfer ends; its stats group, named by the driver, is read with
// core/stats for progress, stopped with job/stopgroup, dropped with core/stats-delete),
// sync/move (staging → final: one server-side directory rename where the backend has DirMove),
// core/bwlimit.

#include "labsync/transports/rclone_commands.hpp"
#include "labsync/transports/rclone_config.hpp"
#include "labsync/verifier/manifest.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::transports {

// `rclone rcd` on a free loopback port (announced on stderr, see parse_rclone_rc_url) with the
// flags every command gets (rclone_argv); the credentials go in the environment
// (RCLONE_RC_USER / RCLONE_RC_PASS), never on argv.
std::vector<std::string> rclone_rcd_argv(const rclone_config& config);
// The port of an announced remote control URL ("http://127.0.0.1:N/"), nullopt otherwise.
std::optional<std::string> rc_url_port(std::string_view url);

// Request bodies. `short_call`: a listing or move, where rclone's low-level retries would only
// delay reporting a refused connection (the engine owns retrying), as --low-level-retries 1 did.
std::string rc_list_body(std::string_view fs, bool with_sha256);
std::string rc_fsinfo_body(std::string_view fs);
std::string rc_sync_body(std::string_view src, std::string_view dst, std::string_view group);
std::string rc_move_body(std::string_view src, std::string_view dst);
std::string rc_bwlimit_body(std::uint64_t bytes_per_second);
// {"group": …}: core/stats, job/stopgroup, core/stats-delete.
std::string rc_group_body(std::string_view group);

// The "error" text of an answer (HTTP status other than 200), else the body itself.
std::string rc_error_text(std::string_view body);
// core/stats of a group: bytes sent so far and the total to send.
std::optional<rclone_stats> parse_rc_stats(std::string_view body);
// operations/list: whether the directory holds anything.
std::optional<bool> rc_list_nonempty(std::string_view body);
// operations/list with SHA-256 hashes: the manifest of the listed files (sizes included).
// errc::bad_manifest and `why` when an entry lacks its hash, a path escapes the run or repeats.
verifier::manifest parse_rc_hash_list(std::string_view body, std::error_code& ec, std::string* why);

}  // namespace labsync::transports
