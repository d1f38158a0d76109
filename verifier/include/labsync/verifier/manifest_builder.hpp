#pragma once
// Builds the manifest of a run: walks it safely (run_walker.hpp), then hashes its regular files
// on a small pool of threads, largest files first, each thread with one read buffer, so memory
// stays bounded for any file size and file count. Blocking: call it from a worker thread.

#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/progress.hpp"
#include "labsync/verifier/run_walker.hpp"

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::verifier {

struct build_options {
    unsigned threads = 0;              // 0 = std::thread::hardware_concurrency()
    std::size_t read_size = 1u << 20;  // bytes per read(); raised to 1 MiB when smaller
    // Test hook: called on a hashing thread right before a file is opened (relative path).
    std::function<void(std::string_view)> before_open;
    // Bytes hashed so far of the run's total (see progress.hpp); called on the hashing threads.
    byte_progress_fn on_progress;
};

struct build_result {
    verifier::manifest manifest;           // empty when error is set
    std::vector<walk_finding> findings;    // entries not in the manifest, and why
    std::vector<std::string> directories;  // every sub-directory of the run, sorted
    std::error_code error;                 // errc::local_file_vanished / local_file_changed / io_error / ...
    std::string error_path;                // the file (relative to the run) the error is about
    // The walk's stat of each manifest entry (same order), taken before the file was read, and
    // when that walk began: what fingerprint_digest() (fingerprint.hpp) needs. Empty on error.
    std::vector<stat_fingerprint> fingerprints;
    std::int64_t walk_started_ns = 0;

    bool ok() const noexcept { return !error; }
};

// The digest of the run's whole tree: the manifest's digest, every directory and every entry that
// is not in the manifest (symlink, device, socket, fifo, unreadable: path and kind). Cleanup
// compares it with the one recorded when the run was shipped: an empty directory or a symlink
// added after verification changes it while the manifest stays the same.
sha256_digest tree_digest(const build_result& result);

build_result build_manifest(const std::filesystem::path& run_dir, const build_options& options = {});

}  // namespace labsync::verifier
