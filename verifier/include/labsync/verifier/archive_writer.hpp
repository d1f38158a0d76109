#pragma once
// Packs a run into one deterministic tar+zstd archive in a single pass: every file is read once
// (>= 1 MiB reads), hashed into the manifest, framed as a pax/ustar member and compressed with
// libzstd's streaming API (its worker threads compress while other threads read and hash); the
// compressed bytes are hashed as they are written. The manifest travels as the archive's last
// member, `.labsync/manifest.sha256` (its sha256sum text). The archive is written to
// `<out>.partial`, fsynced, renamed to `<out>` and its directory fsynced; on any error the
// `.partial` is removed and nothing is renamed into place. The sink variant hands the compressed
// bytes to a consumer instead (http_put streams them to the receiver): the same pass, no file.
// Blocking: call it from a worker thread.

#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/progress.hpp"
#include "labsync/verifier/run_walker.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::verifier {

// The path of the embedded manifest inside every archive.
inline constexpr std::string_view archive_manifest_path = ".labsync/manifest.sha256";

// pack_options::level beside the zstd levels 1..19: store (zstd raw blocks, no compression) and
// adaptive (per 1 MiB segment: store where level-1 zstd saves < 1/32 of a 64 KiB sample, else
// level 3). Every archive is a series of independent zstd frames, a new one every 16 MiB of input
// (docs/architecture.md, "Archiver").
inline constexpr int zstd_level_store = 0;
inline constexpr int zstd_level_adaptive = 100;
// "0".."19" or "adaptive" as a level (syncd.toml's zstd_level, `--level` of syncd pack and put);
// nullopt for anything else.
std::optional<int> parse_zstd_level(std::string_view text);

struct pack_options {
    int level = 3;  // zstd compression level, zstd_level_store or zstd_level_adaptive
    // zstd worker threads; with any, a reading and a writing thread run beside them (see
    // docs/architecture.md, "Archiver"). 0, or a run under 4 MiB: everything on the calling thread.
    unsigned threads = 2;
    std::size_t read_size = 1u << 20;  // bytes per read(); raised to 1 MiB when smaller
    // Test hook: called right before a file is opened and read (path relative to the run), on
    // the reading thread when threads are used.
    std::function<void(std::string_view)> before_read;
    // Run bytes read into the archive so far of the run's total (see progress.hpp); called on the
    // reading thread.
    byte_progress_fn on_progress;
};

struct pack_result {
    std::string sha256;                    // hex sha256 of the compressed archive (the file's bytes)
    std::uint64_t compressed_bytes = 0;    // size of the archive file
    std::uint64_t file_count = 0;          // regular files archived (the manifest member not counted)
    std::uint64_t input_bytes = 0;         // sum of their sizes
    verifier::manifest manifest;           // the embedded manifest
    std::vector<walk_finding> findings;    // entries not archived (symlinks, devices, ...): caller decides
    std::vector<std::string> directories;  // every sub-directory of the run, sorted (the walk's)
    // The walk's stat of each manifest entry, same order, taken before any file was read, and the
    // walk's start: what cleanup's fingerprint compares (fingerprint.hpp).
    std::vector<stat_fingerprint> fingerprints;
    std::int64_t walk_started_ns = 0;

    // errc::local_file_vanished / local_file_changed / no_space / io_error / unsafe_path /
    // not_a_directory, or a system error.
    std::error_code error;
    std::string error_path;     // the file concerned (relative to the run), or the output path
    std::string error_message;  // one line: what failed, where and why

    bool ok() const noexcept { return !error; }
};

pack_result pack_run(const std::filesystem::path& run_dir, const std::filesystem::path& out_path,
                     const pack_options& options = {});

// Receives the compressed archive in order, in buffers of up to 1 MiB, on one thread (the
// compressing or the writing thread); the bytes are hashed before the call. A returned error
// stops the pack (pack_result::error is that error). The bytes are the same as the file's.
using archive_sink = std::function<std::error_code(std::span<const std::byte> bytes)>;

pack_result pack_run(const std::filesystem::path& run_dir, const archive_sink& sink,
                     const pack_options& options = {});

}  // namespace labsync::verifier
