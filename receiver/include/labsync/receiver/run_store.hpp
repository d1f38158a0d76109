#pragma once
// The receiver's store on disk: `<root>/<equipment>/<run>.tar.zst` and its sidecar
// `<run>.json` {sha256, bytes, stored_at, code_commit, client}; temporary files in `<root>/.tmp`
// on the same filesystem. Blocking POSIX calls only: the server runs these on its disk pool,
// never on an I/O thread.
//
// Publication (why it is safe, docs/protocol.md "Crash safety"):
//  1. the body goes to an unnamed O_TMPFILE in .tmp (a named temp file where the filesystem
//     lacks O_TMPFILE), is fsynced, then
//  2. linked to the final name with linkat(2), which fails with EEXIST when the name exists.
//     Exactly one of several concurrent uploads (also across processes sharing the store) wins
//     the link; a final name therefore only ever points at complete, fsynced data.
//  3. the winner writes the sidecar to a temp name, fsyncs it, renames it into place and fsyncs
//     the directory, then answers 201. Losers compare their sha with the stored one: 200/409.
// The data file is the truth; the sidecar is derived. If a crash falls between 2 and 3, the next
// lookup finds data without a sidecar, hashes it and writes the sidecar (a repair).
//
// The sidecar is a record, not a proof: verify() re-reads every stored byte and compares it with
// the sidecar, so a byte flipped on disk after the upload is found (docs/protocol.md "Verify").
// A re-upload of the same sha256 over a stored copy whose bytes no longer match replaces it.

#include "labsync/verifier/sha256.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace labsync::receiver {

struct stored_run {
    std::string sha256;
    std::uint64_t bytes = 0;
    std::string stored_at;  // RFC 3339 UTC
    std::string code_commit;
    std::string client;
};

std::string sidecar_json(const stored_run& run);
std::string rfc3339_now();
std::optional<stored_run> parse_sidecar(std::string_view text);

// One upload's temporary file. Destroying it before publish removes every trace.
class upload_file {
public:
    upload_file(int fd, std::filesystem::path named_path);
    ~upload_file();
    upload_file(const upload_file&) = delete;
    upload_file& operator=(const upload_file&) = delete;

    // Hashes and writes (all of) `data`.
    std::error_code append(std::span<const std::byte> data);
    // Reserves `bytes` on disk up front so a full filesystem is found before the body is read.
    std::error_code reserve(std::uint64_t bytes);
    std::uint64_t bytes() const noexcept { return bytes_; }
    // The digest of everything appended (call once).
    std::string finish_hash() { return verifier::to_hex(hash_.finish()); }

private:
    friend class run_store;
    int fd_;
    std::filesystem::path named_path_;  // empty for O_TMPFILE
    std::uint64_t bytes_ = 0;
    std::uint64_t flushed_ = 0;  // bytes handed to writeback so far
    static constexpr std::uint64_t writeback_window = 8u << 20;
    verifier::sha256 hash_;
};

// created: stored now; same: already stored with this sha256 (and its bytes still match);
// divergent: stored with another sha256; repaired: stored with this sha256 but the stored bytes
// no longer matched it, so the upload replaced them.
enum class publish_outcome { created, same, divergent, repaired };

enum class verify_outcome { absent, match, mismatch, cancelled };

struct verify_report {
    verify_outcome outcome = verify_outcome::absent;
    stored_run recorded;        // the sidecar (match, mismatch)
    std::string actual_sha256;  // what the stored bytes hash to now (match, mismatch)
    std::uint64_t actual_bytes = 0;
};

class run_store {
public:
    // Creates `<root>/.tmp` if needed and removes temp files left by dead processes.
    static std::optional<run_store> open(const std::filesystem::path& root, std::string& error);

    const std::filesystem::path& root() const noexcept { return root_; }
    std::optional<std::uint64_t> free_bytes() const noexcept;

    // The stored run, or nullopt with ec clear when it is not there.
    std::optional<stored_run> lookup(const std::string& equipment, const std::string& run,
                                     std::error_code& ec) const;

    // Re-reads the stored archive of equipment/run and compares its sha256 and size with the
    // sidecar. Blocking, reads the whole file: run it on the disk pool, a bounded number at a
    // time. `cancel` (may be null) is polled between reads. Data without a sidecar is repaired
    // as in lookup() and reported as a match; ec set on a read error.
    verify_report verify(const std::string& equipment, const std::string& run,
                         const std::atomic<bool>* cancel, std::error_code& ec) const;

    std::unique_ptr<upload_file> begin_upload(std::error_code& ec) const;

    // Publishes `file` (whose sha is meta.sha256) as equipment/run. On same/divergent `existing`
    // holds what is stored.
    publish_outcome publish(upload_file& file, const std::string& equipment, const std::string& run,
                            const stored_run& meta, stored_run& existing, std::error_code& ec) const;

private:
    explicit run_store(std::filesystem::path root) : root_(std::move(root)) {}
    std::error_code write_sidecar(const std::filesystem::path& dir, const std::string& run,
                                  const stored_run& meta) const;
    std::error_code replace_data(upload_file& file, const std::filesystem::path& final_path) const;
    std::filesystem::path root_;
};

}  // namespace labsync::receiver
