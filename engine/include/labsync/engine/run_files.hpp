#pragma once
// The engine's destructive file operations on runs, kept in one place and written with *at calls
// that never follow symlinks: deleting a verified run, moving a rejected run to quarantine,
// pruning quarantine. All blocking; the engine calls them on its pool. (What a transport keeps
// locally, such as http_put's outbox, is the transport's: transport::release / sweep.)

#include <chrono>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace labsync::engine {

// Deletes <parent>/<name> recursively. It first renames it to deletion_tombstone(name) and fsyncs
// the parent, so the run vanishes from its path atomically; a missing run is not an error (only
// a leftover tombstone is removed). Every directory is opened with
// openat(O_NOFOLLOW|O_DIRECTORY) relative to its parent, entries are removed with unlinkat, a
// symlink is removed as a link (its target is never touched), then the parent is fsynced.
// `error_path` (when not null) receives the path the error is about.
// `<name>.labsync~deleting`: '~' is outside the run id charset (SPEC §3).
std::string deletion_tombstone(const std::string& name);

std::error_code remove_run_tree(const std::filesystem::path& parent, const std::string& name,
                                std::string* error_path = nullptr);

std::error_code fsync_directory(const std::filesystem::path& dir);

struct quarantine_reason {
    std::string equipment;
    std::string run_id;
    std::string code;  // the transport's error kind ("rejected") and status, e.g. "412"
    int status = 0;
    std::string body;  // the receiver's answer (capped)
    std::string message;
    int attempts = 0;
    std::chrono::system_clock::time_point at{};
};

std::string to_json(const quarantine_reason& reason);

// Renames runs_root/<run> to quarantine/<equipment>/<run> (a numbered suffix if taken), writes
// quarantine_reason.json into it, fsyncs the file and both directories. When the rename is
// impossible (another filesystem) the run stays in place and the reason file is written to
// quarantine/<equipment>/<run>.reason.json instead; `moved` tells which happened.
std::error_code move_to_quarantine(const std::filesystem::path& run_path,
                                   const std::filesystem::path& quarantine_dir,
                                   const quarantine_reason& reason, std::filesystem::path& destination,
                                   bool& moved);

// Removes quarantine/<equipment>/<entry> older than keep_days (by mtime). keep_days 0 = keep.
// Returns the removed entries.
std::vector<std::filesystem::path> prune_quarantine(const std::filesystem::path& quarantine_dir,
                                                    int keep_days, std::chrono::system_clock::time_point now);

}  // namespace labsync::engine
