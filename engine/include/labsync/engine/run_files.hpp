#pragma once
// The engine's destructive file operations, kept in one place and written with *at calls that
// never follow symlinks: deleting a verified run, moving a rejected run to quarantine, pruning
// quarantine, sweeping orphan outbox archives. All blocking; the engine calls them on its pool.

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

// Removes outbox/<equipment>/<run>.tar.zst(.partial) for which `is_wanted(equipment, run)` says no.
template <class F>
std::vector<std::filesystem::path> sweep_outbox(const std::filesystem::path& outbox_dir, F is_wanted);

}  // namespace labsync::engine

#include <system_error>

namespace labsync::engine {

template <class F>
std::vector<std::filesystem::path> sweep_outbox(const std::filesystem::path& outbox_dir, F is_wanted) {
    std::vector<std::filesystem::path> removed;
    std::error_code ec;
    for (const auto& eq : std::filesystem::directory_iterator(outbox_dir, ec)) {
        if (!eq.is_directory(ec) || eq.is_symlink(ec)) continue;
        const std::string equipment = eq.path().filename().string();
        for (const auto& f : std::filesystem::directory_iterator(eq.path(), ec)) {
            std::string name = f.path().filename().string();
            std::string run;
            for (const std::string suffix : {".tar.zst.partial", ".tar.zst"}) {
                if (name.size() > suffix.size() && name.ends_with(suffix)) {
                    run = name.substr(0, name.size() - suffix.size());
                    break;
                }
            }
            if (run.empty() || is_wanted(equipment, run)) continue;
            std::error_code rm;
            if (std::filesystem::remove(f.path(), rm)) removed.push_back(f.path());
        }
    }
    return removed;
}

}  // namespace labsync::engine
