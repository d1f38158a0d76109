#pragma once
// The outbox side of http_put: make sure <outbox>/<equipment>/<run>.tar.zst holds an intact
// archive of the run (reuse the one a previous attempt left, re-pack a corrupt or stale one).
// Runs on the CPU pool: packing and checking read, compress and hash the whole run.

#include "labsync/transports/transport.hpp"
#include "labsync/transports/transport_result.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/manifest.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::transports {

// What packing or checking an archive found.
struct outbox_archive {
    std::error_code error;                       // empty when the archive is intact
    std::string message;                         // what/where/why when error is set
    std::string sha256_hex;                      // of the compressed file, as shipped
    std::uint64_t bytes = 0;                     // size of the compressed file
    std::optional<verifier::manifest> manifest;  // the run's files as the archive holds them
    // A pack only: what the walk found besides the files (for the run's build result).
    std::vector<std::string> directories;
    std::vector<verifier::walk_finding> findings;
    std::vector<verifier::stat_fingerprint> fingerprints;  // per manifest entry (fingerprint.hpp)
    std::int64_t walk_started_ns = 0;
};

// The archiver, injectable so tests can count packs or simulate failures. Both report the bytes
// they have read through `progress` (may be empty).
struct outbox_ops {
    // Packs run_dir into `out` (via out.partial, fsync, rename), hashing it in the same pass.
    std::function<outbox_archive(const std::filesystem::path& run_dir, const std::filesystem::path& out,
                                 int zstd_level, const progress_fn& progress)>
        pack;
    // Checks an existing archive end to end (sha of the file, every member against the embedded
    // manifest).
    std::function<outbox_archive(const std::filesystem::path& archive, const progress_fn& progress)> check;
    // Packs run_dir into `sink` (the streaming upload): the same bytes as `pack`, no file.
    std::function<outbox_archive(const std::filesystem::path& run_dir, const verifier::archive_sink& sink,
                                 int zstd_level, const progress_fn& progress)>
        stream;
};

// verifier::pack_run (to a file, to a sink) and verifier::check_archive_file.
outbox_ops default_outbox_ops();

struct outbox_outcome {
    transport_result status;  // ok, or why the archive could not be made
    std::string sha256_hex;
    std::uint64_t bytes = 0;
    bool reused = false;        // an intact archive from an earlier attempt was kept
    std::optional<verifier::manifest> manifest;  // the files the archive holds
    std::string repack_reason;  // why an existing archive was not reused (empty if none existed)
};

// Reuses `out` when it is intact and (when `expected` is given) holds exactly `expected`;
// otherwise packs the run afresh. A fresh pack whose files differ from `expected` means the run
// changed after its manifest was taken: local_file_vanished, and the archive is removed.
// `progress` sees the bytes read by the check and the pack.
// The outbox layout, known only here: <outbox>/<equipment>/<run>.tar.zst (and, while packing,
// <run>.tar.zst.partial next to it; <run>.tar.zst.upload names its resumable upload while one is
// open). Blocking file operations, for the CPU pool.
std::filesystem::path outbox_archive_path(const std::filesystem::path& outbox, std::string_view equipment,
                                          std::string_view run);
std::filesystem::path upload_sidecar_path(const std::filesystem::path& archive);
// Removes a run's archive, a stale .partial and its .upload sidecar. Empty when done (or nothing was there),
// else what could not be removed and why.
std::string remove_outbox_archive(const std::filesystem::path& outbox, std::string_view equipment,
                                  std::string_view run);
// Removes <outbox>/<equipment>/<run>.tar.zst(.partial|.upload) for which `is_wanted(equipment, run)` says
// no; other files are left alone. Returns the removed paths.
std::vector<std::filesystem::path> sweep_outbox(const std::filesystem::path& outbox,
                                                const wanted_fn& is_wanted);

outbox_outcome prepare_outbox(const outbox_ops& ops, const std::filesystem::path& run_dir,
                              const std::filesystem::path& out, int zstd_level,
                              const verifier::manifest* expected, const progress_fn& progress = {});

}  // namespace labsync::transports
