#pragma once
// A sans-I/O checker for archives made by pack_run(): push the compressed bytes in chunks of any
// size (as they arrive from a socket or a file), then call finish(). It decompresses (zstd
// streaming), parses the tar stream (ustar + pax 'x' headers, regular files and directories
// only), hashes every member, and at the end checks every member against the embedded
// `.labsync/manifest.sha256`, which must be the last member. It also hashes every byte fed, so a
// receiver gets the upload's sha256 from the same pass. Memory is bounded by fixed buffers plus
// one (path, digest) per member and the manifest text. Optionally two threads (see below).

#include "labsync/verifier/check_budget.hpp"
#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/sha256.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace labsync::verifier {

// one: everything on the thread that calls feed(). two: feed() decompresses and hands the
// decoded bytes, through 4 buffers of 512 KiB, to a thread of the checker's own that walks the
// tar stream and hashes the members, so the two run on different cores. The verdicts are the
// same; with two threads feed() may report a member error one or more calls later than with one
// (finish() always reports it), and the destructor joins the thread.
enum class archive_check_threads { one, two };

// Frames decompressed in parallel, for archives of several independent zstd frames (what
// pack_run writes): feed() only finds the frame boundaries (from the frame and block headers) and
// queues copies of the compressed bytes; `decoders` threads of the checker's own decompress up to
// that many frames at once, and one more walks the tar stream and hashes the members, frame after
// frame in stream order. A frame is decoded ahead of the walk only on memory taken from `budget`
// (without waiting; see check_budget); otherwise the checker's own memory holds 4 × 512 KiB
// decoded, 1 MiB compressed and one decoder context. A single-frame archive is decoded by one
// decoder, pipelined with the walk as with two threads. The verdicts are the same as with one.
struct parallel_frames {
    std::size_t decoders = 2;
    std::shared_ptr<check_budget> budget;  // null: no frame is decoded ahead of the walk
};

class archive_checker {
public:
    // hash_stream=false skips the sha256 of the raw bytes (sha256() stays empty) for callers
    // that hash them elsewhere in parallel, such as the receiver's writing thread.
    explicit archive_checker(bool hash_stream = true,
                             archive_check_threads threads = archive_check_threads::one);
    archive_checker(bool hash_stream, parallel_frames frames);
    ~archive_checker();
    archive_checker(archive_checker&&) noexcept;
    archive_checker& operator=(archive_checker&&) noexcept;

    // Returns the first error (and keeps returning it): errc::archive_corrupt (malformed,
    // unsupported, truncated, trailing garbage), errc::unsafe_path (a member path leaving the
    // archive), errc::manifest_missing, errc::member_mismatch, errc::bad_manifest.
    std::error_code feed(std::span<const std::byte> data);
    // Ends the stream: checks it was complete and compares every member with the manifest.
    std::error_code finish();

    std::error_code error() const noexcept;
    // The first problem: which member (may be empty for stream-level errors) and what is wrong.
    const std::string& error_path() const noexcept;
    const std::string& error_reason() const noexcept;

    std::uint64_t bytes_fed() const noexcept;
    // Hex sha256 of every byte fed; set by finish() (also when it reports an error); empty when
    // constructed with hash_stream=false.
    const std::string& sha256() const noexcept;
    // Members seen so far (directories, files and the manifest; not pax headers). With two
    // threads it first waits for the worker to take every byte fed.
    std::uint64_t members_seen() const;
    // Regular files checked against the manifest (after a successful finish()).
    std::uint64_t files_checked() const noexcept;
    // The embedded manifest (after a successful finish()).
    const verifier::manifest& embedded_manifest() const noexcept;

private:
    class impl;
    std::unique_ptr<impl> impl_;
};

struct archive_check_result {
    std::error_code error;  // also errc::io_error or a system error when the file cannot be read
    std::string error_path;
    std::string error_reason;
    std::string sha256;  // of the file's bytes
    std::uint64_t bytes = 0;
    std::uint64_t members = 0;
    std::uint64_t files = 0;

    bool ok() const noexcept { return !error; }
};

// Streams a file through archive_checker (one thread) in 1 MiB reads.
archive_check_result check_archive_file(const std::filesystem::path& path);

}  // namespace labsync::verifier
