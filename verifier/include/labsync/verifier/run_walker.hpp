#pragma once
// Safe traversal of a run directory. Everything is resolved relative to the run's directory fd
// with O_NOFOLLOW / AT_SYMLINK_NOFOLLOW, so a symlink (to outside or inside the run) is never
// followed and no path ever leaves the run. Entries that cannot be shipped (symlinks, devices,
// sockets, fifos, unreadable entries) are reported as findings instead of being skipped silently.

#include "labsync/verifier/path_arena.hpp"
#include "labsync/verifier/unique_fd.hpp"

#include <cstdint>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::verifier {

// What cleanup compares instead of re-reading a file (fingerprint.hpp): every field a rewrite,
// a rename over it or a touch changes. ctime cannot be set from user space: a rewrite that
// restores size and mtime still moves it.
struct stat_fingerprint {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;

    friend bool operator==(const stat_fingerprint&, const stat_fingerprint&) = default;
};

// One regular file of a walk as callers see it; `path` views the walk's path arena (valid while
// the walk_result lives and its file list is not modified).
struct run_file {
    std::string_view path;  // relative, '/'-separated, no leading "./"
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;  // st_mtim in nanoseconds since the epoch, saturated (mtime_ns())
    std::uint32_t mode = 0;     // st_mode (type and permission bits)
    std::int64_t mtime_s = 0;   // st_mtim.tv_sec, exact (the tar header's mtime)
    // The rest of the stat fingerprint (fingerprint.hpp): st_ctim in ns (saturated as mtime_ns),
    // st_ino and st_dev, from the same lstat.
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
};

inline stat_fingerprint fingerprint_of(const run_file& file) noexcept {
    return {file.size, file.mtime_ns, file.ctime_ns, file.inode, file.device};
}

// The regular files of a walk, stored as fixed-size records: per file a stat_fingerprint (40
// bytes), the path's place in one arena, the tar header's mtime and mode (24 bytes), and the
// path's bytes. The manifest and pack passes take the arena and the fingerprints over as they are
// (take_paths(), take_fingerprints()) instead of copying them.
class run_file_list {
public:
    using value_type = run_file;
    using iterator = indexed_iterator<run_file_list>;
    using const_iterator = iterator;

    std::size_t size() const noexcept { return records_.size(); }
    bool empty() const noexcept { return records_.empty(); }
    run_file operator[](std::size_t i) const noexcept {
        const auto& r = records_[i];
        const auto& st = stats_[i];
        return {paths_.get(r.path), st.size,     st.mtime_ns, r.mode,
                r.mtime_s,          st.ctime_ns, st.inode,    st.device};
    }
    iterator begin() const noexcept { return {this, 0}; }
    iterator end() const noexcept { return {this, size()}; }

    const path_arena& paths() const noexcept { return paths_; }
    path_ref path_of(std::size_t i) const noexcept { return records_[i].path; }
    const std::vector<stat_fingerprint>& fingerprints() const noexcept { return stats_; }

    // Appends `prefix/name` (or `name` when prefix is empty) with its stat.
    void add(std::string_view prefix, std::string_view name, const stat_fingerprint& st, std::int64_t mtime_s,
             std::uint32_t mode);
    // Appends a copy of `file` (whose path must not view this list).
    void push_back(const run_file& file) {
        add({}, file.path, fingerprint_of(file), file.mtime_s, file.mode);
    }
    // Sorts by path bytes (the order of `LC_ALL=C sort`).
    void sort();
    // Move the arena / the fingerprints out; the list is left empty.
    path_arena take_paths();
    std::vector<stat_fingerprint> take_fingerprints();

private:
    struct record {
        path_ref path;
        std::int64_t mtime_s = 0;
        std::uint32_t mode = 0;
    };
    void clear_records();

    path_arena paths_;
    std::vector<stat_fingerprint> stats_;  // same index as records_
    std::vector<record> records_;
};

// st_mtim as nanoseconds since the epoch. An int64 count of nanoseconds only reaches the years
// 1677..2262: beyond that the value saturates at the limit instead of wrapping around (an mtime
// in 2300 would otherwise read as 1715 and count as long settled).
std::int64_t mtime_ns(std::int64_t seconds, std::int64_t nanoseconds) noexcept;
inline std::int64_t mtime_ns(const timespec& t) noexcept {
    return mtime_ns(t.tv_sec, t.tv_nsec);
}

enum class finding_kind { symlink, device, socket, fifo, unreadable, other };

std::string_view to_string(finding_kind kind) noexcept;

struct walk_finding {
    finding_kind kind = finding_kind::other;
    std::string path;      // relative to the run
    std::string message;   // why it is not shipped
    std::string target{};  // symlinks: where the link points (readlinkat), for the fingerprint
};

struct walk_result {
    run_file_list files;                   // regular files, sorted by path bytes
    std::vector<std::string> directories;  // every sub-directory (not the run itself), sorted
    std::vector<walk_finding> findings;    // sorted by path
    std::error_code error;                 // set when the walk could not complete
    std::string error_path;                // which path (relative; "" = the run directory)
    // CLOCK_REALTIME_COARSE (the clock file timestamps come from) when the walk began: a file
    // whose ctime is not older was changed in the walk's tick or later (fingerprint.hpp, racy).
    std::int64_t started_ns = 0;
};

// Opens the run directory itself (O_DIRECTORY | O_NOFOLLOW: the run path must not be a symlink).
// errc::not_a_directory when it is not a directory.
unique_fd open_run_dir(const std::filesystem::path& run_dir, std::error_code& ec);

// Walks a run. The fd overload lets a caller walk and then read through the same directory fd.
walk_result walk_run(const std::filesystem::path& run_dir);
walk_result walk_run(int run_dir_fd);

// Opens a regular file of the run for reading without following any symlink and without leaving
// the run (openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or component by component with O_NOFOLLOW
// on kernels without it). Errors: errc::unsafe_path (absolute, "..", empty component),
// errc::local_file_vanished (gone), errc::local_file_changed (now a symlink, directory or other
// non-regular file), std::errc::permission_denied (unreadable), else the system error.
unique_fd open_run_file(int run_dir_fd, std::string_view relative_path, std::error_code& ec);

// Same resolution as open_run_file, for a sub-directory of the run (the archiver fstat()s it for
// the directory member's mode and mtime). errc::local_file_changed when it is no longer a
// directory, errc::local_file_vanished when it is gone.
unique_fd open_run_subdir(int run_dir_fd, std::string_view relative_path, std::error_code& ec);

}  // namespace labsync::verifier
