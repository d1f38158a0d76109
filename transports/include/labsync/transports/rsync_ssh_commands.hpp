#pragma once
// The pure half of the rsync_ssh driver: argv vectors for ssh and rsync, the remote shell
// commands (prepare, move into place, manifest), and parsers for what they print. No I/O, so every
// quoting and parsing rule is unit-tested.

#include "labsync/transports/rsync_ssh_config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::transports {

// POSIX shell single-quoting: 'it'\''s'. Safe for any byte string except NUL.
std::string shell_quote(std::string_view text);

// Joins argv for rsync's -e option, which splits on whitespace and honours quotes itself.
// nullopt when an argument holds a quote character rsync's splitter cannot represent.
std::optional<std::string> rsync_rsh_string(const std::vector<std::string>& argv);

// ssh argv with every option but without the destination (rsync's -e; rsync adds "-l user host").
// `ssh` is the resolved ssh binary; `control_dir` holds the ControlMaster socket.
std::vector<std::string> ssh_options_argv(const rsync_ssh_config& config, const std::string& ssh,
                                          const std::string& control_dir);
// The same plus "-l user host" (append the remote command).
std::vector<std::string> ssh_base_argv(const rsync_ssh_config& config, const std::string& ssh,
                                       const std::string& control_dir);

struct remote_paths {
    std::string equipment_dir;  // DEST/<equipment>
    std::string final_dir;      // DEST/<equipment>/<run>
    std::string staging_root;   // DEST/<equipment>/.labsync-staging
    std::string staging_dir;    // DEST/<equipment>/.labsync-staging/<run>.<nonce>
};
remote_paths make_remote_paths(std::string_view dest, std::string_view equipment, std::string_view run,
                               std::string_view nonce);
// A staging nonce: 16 lowercase hex digits, so that the stale-staging glob of one run
// (`<run>.` + 16 hex digits) never matches another run whose id starts with `<run>.`.
std::string make_staging_nonce();

// rsync's --rsync-path: refuses (stderr "labsync:exists", exit 1) when the final directory
// exists, else creates the staging root, removes this run's staging leftovers of earlier
// attempts (not when `resume`: a restart of this attempt continues from its partial files),
// and execs the remote rsync under a lock of the staging directory (flock, when the remote has
// it), so a restarted transfer waits until the interrupted one has let go of its files.
std::string rsync_path_command(const remote_paths& paths, std::string_view run, bool resume = false);
// --bwlimit for a share of the budget in bytes per second (> 0): KiB/s rounded down, at least 1.
std::string rsync_bwlimit_arg(std::uint64_t bytes_per_second);
// Whether rsync running at `running` (bytes/s, 0 = unlimited) is restarted for the new `share`:
// always when the share is lower (the budget must hold), for a higher one only when it is at
// least a quarter higher or unlimited (a restart costs a handshake and --append-verify re-reads
// the partial file on both sides); never when both give the same --bwlimit.
bool rsync_restart_worth(std::uint64_t running, std::uint64_t share) noexcept;
// Renames staging → final (mv -T, one rename(2)); prints "labsync:moved" followed by the output
// of manifest_command(final), or "labsync:exists" when the final directory already holds
// something. With `sync`, one `sync -f` (syncfs of the file system holding the staging copy)
// before the rename and an fsync of the equipment directory after it.
std::string finalize_command(const remote_paths& paths, bool sync);
// Prints "labsync:absent", or "labsync:present" and then the sha256sum manifest of the directory
// in the verifier's canonical form (the sorted file list hashed in chunks on every remote core,
// printed in list order: the text of find -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum).
std::string manifest_command(std::string_view dir);
std::string remove_command(std::string_view dir);

// Splits "labsync:<marker>\n<rest>" as printed by the commands above.
struct marked_output {
    std::string marker;
    std::string_view rest;
};
std::optional<marked_output> split_marker(std::string_view stdout_text);

// One --info=progress2 line ("  1,234,567  45%  10.00MB/s  0:00:01 (xfr#1, to-chk=0/3)"):
// bytes done and the percentage; nullopt for other lines.
struct progress2_line {
    std::uint64_t bytes = 0;
    int percent = 0;
};
std::optional<progress2_line> parse_progress2(std::string_view line);

}  // namespace labsync::transports
