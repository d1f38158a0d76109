#pragma once
// The driver interface every transport implements. Drivers are awaitable: they run on the
// engine's io_context and hand CPU work (packing, hashing) to the thread pool they are given.

#include "labsync/transports/transport_result.hpp"
#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "labsync/verifier/progress.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace labsync::transports {

// Reports bytes done so far and the total expected (0 when unknown); may be called on any thread.
using progress_fn = verifier::byte_progress_fn;

// One running transfer's share of the bandwidth budget (SPEC §10: one budget shared by every
// transfer of every transport). The engine re-splits the budget whenever a transfer starts or
// ends and when a timetable changes; rate() is always the current share. Destroying the lease
// ends the transfer (its share goes to the others).
class bandwidth_lease {
public:
    virtual ~bandwidth_lease() = default;
    // Throttles a byte stream (http_put): called before sending `bytes`, returns how long to wait.
    virtual std::chrono::nanoseconds reserve(std::uint64_t bytes) = 0;
    // This transfer's share in bytes per second; 0 = unlimited.
    virtual std::uint64_t rate() const = 0;
    // `fn` is called with the new share whenever it changes, from whichever thread re-split the
    // budget; it must only hand the news over (post, store) and never call back into the budget.
    // One watcher; an empty fn removes it (and waits for a call in progress to return).
    virtual void on_change(std::function<void(std::uint64_t)> fn) = 0;
};

// The budget as a driver sees it (one per equipment): every transfer that moves run data
// (a push's upload, a probe that downloads to hash) runs under a lease taken from it.
// The engine's bandwidth scheduler implements it; nullptr in a request means unlimited.
class rate_limiter {
public:
    virtual ~rate_limiter() = default;
    virtual std::unique_ptr<bandwidth_lease> begin_transfer() = 0;
};

struct push_request {
    std::string equipment;
    std::string run_id;
    std::filesystem::path run_path;
    // The manifest of the run as the engine computed it (the gate or the verifier).
    const verifier::manifest* local_manifest = nullptr;
    // Bytes moved: uploaded by push(), hashed or listed by probe(). Every phase reports, so that a
    // long one is never mistaken for a wedged transfer (the daemon's watchdog).
    progress_fn on_progress;
    // Bytes of the run packed, or of an earlier archive checked, before push() uploads (http_put).
    progress_fn on_pack_progress;
    rate_limiter* limiter = nullptr;
};

// What a remote holds for a run: what a probe found, or what a push proved in its own round trip.
struct remote_evidence {
    bool present = false;  // the remote has this run at all
    // A manifest of the remote files (rsync_ssh, rclone) or the stored archive's sha256 (http_put).
    std::optional<verifier::manifest> remote_manifest;
    std::optional<std::string> archive_sha256;
};

struct probe_result : remote_evidence {
    transport_result status;  // ok=false with kind when the remote could not be asked
};

// What a push did and what it proved.
struct push_result {
    transport_result status;
    // The sha256 of the archive this push shipped (http_put): recorded with the job, and what
    // every later probe must find. Empty for transports that verify by manifest.
    std::optional<std::string> archive_sha256;
    // What the remote stated it holds, in the same round trip as the transfer: http_put the
    // sha256 of the bytes the receiver received and fsynced (its 201/200 answer), rsync_ssh the
    // manifest it computed after the rename. Empty when the remote said nothing usable: then
    // the engine probes. Only the verification right after this push may use it; every later
    // proof (cleanup, `syncd verify`) probes the remote again.
    std::optional<remote_evidence> evidence;
    std::uint64_t bytes_moved = 0;  // bytes sent over the wire by this push (0 = none or unknown)
    // The run as this push read it (manifest, directories, findings), when the push hashed every
    // file on the way (transport::push_hashes_run): the engine needs no manifest pass of its own.
    std::optional<verifier::build_result> built;

    static push_result failed(transport_result status) { return {std::move(status), {}, {}, 0, {}}; }
};

// Answers "is (equipment, run) still wanted?" for sweep(); called on the sweeping thread.
using wanted_fn = std::function<bool(const std::string& equipment, const std::string& run)>;

class transport {
public:
    virtual ~transport() = default;
    virtual std::string_view name() const noexcept = 0;
    // True when push() reads and hashes the whole run itself and says so in push_result::built
    // (http_put's streamed pack): the engine then skips its own manifest pass before the push.
    virtual bool push_hashes_run() const noexcept { return false; }
    // Ships the run. Must be idempotent: re-shipping an already stored identical run succeeds.
    virtual boost::asio::awaitable<push_result> push(const push_request& request) = 0;
    // Asks the remote what it holds for this run, now (never from a record of an earlier push).
    virtual boost::asio::awaitable<probe_result> probe(const push_request& request) = 0;
    // Drops what push() left locally for this run (http_put: its outbox archive); the engine calls
    // it once the run is verified or quarantined. Blocking (the engine calls it on its CPU pool).
    // Returns an error message, empty when done (or nothing to drop).
    virtual std::string release(const std::string& equipment, const std::string& run) {
        (void)equipment;
        (void)run;
        return {};
    }
    // Removes local artefacts of runs `is_wanted` no longer wants (orphans of jobs that are gone
    // or past verification). Blocking (CPU pool). Returns what was removed, one line each.
    virtual std::vector<std::string> sweep(const wanted_fn& is_wanted) {
        (void)is_wanted;
        return {};
    }
};

}  // namespace labsync::transports
