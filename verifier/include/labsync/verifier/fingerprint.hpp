#pragma once
// The stat fingerprint of a run: what cleanup compares instead of re-reading every byte
// (docs/architecture.md, "Cleanup interlock"). Recorded when the run is shipped, from the walk of
// the manifest or pack pass (build_result::fingerprints, taken before any file was read), and
// compared at deletion time with a metadata-only walk (fingerprint_run: lstat and readlink, no
// file is opened). Equal digests mean no regular file was written, replaced, touched, added or
// removed, and no directory, symlink (or its target) or other entry was added or removed since.
//
// Canonical text hashed with SHA-256 (one line each, in this order):
//   `labsync-fingerprint 1`
//   per regular file, in path byte order:
//     `[\\]file <size> <mtime_ns> <ctime_ns> <inode> <device> <path>`
//   per directory, then per other entry (sorted by path), as tree_digest() writes them:
//     `[\\]directory <path>`, `[\\]<symlink|device|socket|fifo|unreadable|other> <path>`,
//     and after a symlink's line `[\\]target <link target>`
// Numbers are decimal; paths are escaped as in the manifest's sha256sum text (a line holding an
// escaped '\\', '\n' or '\r' starts with '\\').
//
// Racy files: a write in the same timestamp tick as the walk's lstat leaves every field equal
// (ctime and mtime are stamped from the kernel's coarse clock). A fingerprint whose files all
// changed before the walk's tick (ctime < walk_result::started_ns) is `exact`; otherwise it is
// racy and must not be recorded (cleanup then re-hashes). The settle time before shipping makes
// racy runs rare in practice.

#include "labsync/verifier/manifest_builder.hpp"
#include "labsync/verifier/run_walker.hpp"
#include "labsync/verifier/sha256.hpp"

#include <filesystem>
#include <string>
#include <system_error>

namespace labsync::verifier {

struct fingerprint_result {
    sha256_digest digest{};
    // False when the digest cannot vouch for the run, so it must not be recorded: a file changed
    // in the walk's tick or later (racy), or a build_result without a stat per manifest entry.
    bool exact = false;
    std::error_code error;   // the walk (or the build it came from) failed; digest is meaningless
    std::string error_path;  // relative to the run

    bool ok() const noexcept { return !error; }
};

// From the manifest or pack pass: its walk's stat of every manifest entry, its tree shape.
fingerprint_result fingerprint_digest(const build_result& built);
// From a walk (walk_run): the same digest for the same run.
fingerprint_result fingerprint_digest(const walk_result& walk);

// Metadata only: walk_run() + fingerprint_digest(). Reads no file content. Blocking.
fingerprint_result fingerprint_run(const std::filesystem::path& run_dir);

}  // namespace labsync::verifier
