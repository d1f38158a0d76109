#pragma once
// Resumable uploads on disk (docs/protocol.md "Resumable uploads"). Each upload is a directory
// `<store>/.uploads/<id>/` holding `data` (the bytes received so far) and `state.json`
// (upload_state). Blocking POSIX calls only: run on the disk pool.
//
// Durability: `state.json` names the acknowledged offset. It is rewritten (temp file, fsync,
// rename, fsync of the directory) only after the data up to that offset was fsynced, so after a
// crash the offset it names is always backed by data; bytes past it (a crash mid-append) are cut
// off by the next append before it writes.
//
// Concurrency: a request that changes an upload holds flock(LOCK_EX|LOCK_NB) on its `data` file
// (upload_handle). A second appender, in this process or in another receiver on the same store,
// finds it busy (423). HEAD reads `state.json` without the lock (rename makes it atomic).
//
// The hash and member check of the bytes so far live in memory (upload_progress), kept between
// requests in this process. When they are gone (crash, restart, another receiver appended), the
// next append re-reads `data` up to the offset to rebuild them (upload_handle::resume).

#include "labsync/receiver/body_checker.hpp"
#include "labsync/receiver/publish_checked.hpp"
#include "labsync/receiver/run_store.hpp"
#include "labsync/receiver/upload_rules.hpp"

#include "labsync/verifier/sha256.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>

namespace labsync::receiver {

// The running digest and member check of an upload's first `fed` bytes.
struct upload_progress {
    verifier::sha256 hash;
    std::unique_ptr<body_checker> checker;  // null when the member check is off
    std::uint64_t fed = 0;
};

enum class upload_access { ok, absent, busy, expired, error };

// One upload, locked for the lifetime of this object.
class upload_handle {
public:
    upload_handle(std::string id, std::filesystem::path dir, int fd, upload_state state);
    ~upload_handle();
    upload_handle(const upload_handle&) = delete;
    upload_handle& operator=(const upload_handle&) = delete;

    const std::string& id() const noexcept { return id_; }
    upload_state& state() noexcept { return state_; }
    // Takes `cached` if it covers exactly the acknowledged offset, otherwise re-reads the data
    // up to it into a fresh progress (checker from `make_checker`). Cuts off unacknowledged bytes.
    std::error_code resume(std::unique_ptr<upload_progress> cached,
                           const std::function<std::unique_ptr<body_checker>()>& make_checker);
    std::uint64_t rescanned() const noexcept { return rescanned_; }
    // Reserves `bytes` past the offset (ENOSPC before the body is read).
    std::error_code reserve(std::uint64_t bytes);
    // Hashes and writes `data` at the end of what was written (the checker is fed by the caller).
    std::error_code append(std::span<const std::byte> data);
    std::uint64_t written() const noexcept { return written_; }
    body_checker* checker() noexcept { return progress_ ? progress_->checker.get() : nullptr; }
    // Called after a chunk was appended and fed to the checker.
    void fed(std::uint64_t n) noexcept { progress_->fed += n; }
    // fsync the data, then record `written()` as the acknowledged offset (durable on return).
    std::error_code checkpoint(std::int64_t now);
    // The progress, when it still matches the data (to keep for the next request).
    std::unique_ptr<upload_progress> release_progress();
    // Finishes the hash and member check, compares with `claimed` and publishes through `store`
    // (the same publish path as PUT). Afterwards the upload is complete either way (its data is
    // released, its state records the answer) except on a store error (500), when it stays open.
    upload_completion complete(const run_store& store, stored_run meta, const std::string& claimed,
                               std::int64_t now);
    // Removes the upload (DELETE, expiry).
    std::error_code remove();

private:
    std::error_code save_state();
    std::string id_;
    std::filesystem::path dir_;
    int fd_;
    upload_state state_;
    std::uint64_t written_ = 0;
    std::uint64_t rescanned_ = 0;
    std::unique_ptr<upload_progress> progress_;
};

class upload_store {
public:
    upload_store(std::filesystem::path store_root, std::chrono::seconds expiry);

    std::chrono::seconds expiry() const noexcept { return expiry_; }
    // Creates an upload for `state` (offset 0); its id, or "" with ec.
    std::string create(upload_state state, std::error_code& ec) const;
    // Reads the state without the lock (HEAD). absent/expired/error in `access`.
    std::optional<upload_state> peek(const std::string& id, std::int64_t now, upload_access& access,
                                     std::error_code& ec) const;
    // Locks the upload for a change; an expired upload is removed and reported as expired.
    std::unique_ptr<upload_handle> open(const std::string& id, std::int64_t now, upload_access& access,
                                        std::error_code& ec) const;
    // Removes every expired upload not in use; returns how many were still incomplete (abandoned).
    std::size_t sweep(std::int64_t now) const;

    // In-memory progress between requests of this process (bounded; see the header comment).
    std::unique_ptr<upload_progress> take_progress(const std::string& id);
    void keep_progress(const std::string& id, std::unique_ptr<upload_progress> progress);

private:
    std::filesystem::path dir_;  // <store>/.uploads
    std::chrono::seconds expiry_;
    std::mutex mutex_;
    std::map<std::string, std::unique_ptr<upload_progress>> progress_;
    static constexpr std::size_t max_kept_progress = 64;
};

}  // namespace labsync::receiver
