#pragma once
// The driver interface every transport implements. Drivers are awaitable: they run on the
// engine's io_context and hand CPU work (packing, hashing) to the thread pool they are given.

#include "labsync/transports/transport_result.hpp"
#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/progress.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace labsync::transports {

// Reports bytes done so far and the total expected (0 when unknown); may be called on any thread.
using progress_fn = verifier::byte_progress_fn;

// Throttles a byte stream: called before sending `bytes`, returns how long to wait first.
// The engine's bandwidth scheduler implements it; nullptr means unlimited.
class rate_limiter {
public:
    virtual ~rate_limiter() = default;
    virtual std::chrono::nanoseconds reserve(std::uint64_t bytes) = 0;
    // Current limit in bytes per second for subprocess drivers (--bwlimit); 0 = unlimited.
    virtual std::uint64_t current_limit() const = 0;
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

struct probe_result {
    transport_result status;  // ok=false with kind when the remote could not be asked
    bool present = false;     // the remote has this run at all
    // What the remote holds: a manifest (rsync, rclone) or an archive's sha256 (http_put).
    std::optional<verifier::manifest> remote_manifest;
    std::optional<std::string> archive_sha256;
};

class transport {
public:
    virtual ~transport() = default;
    virtual std::string_view name() const noexcept = 0;
    // Ships the run. Must be idempotent: re-shipping an already stored identical run succeeds.
    virtual boost::asio::awaitable<transport_result> push(const push_request& request) = 0;
    // Asks the remote what it holds for this run.
    virtual boost::asio::awaitable<probe_result> probe(const push_request& request) = 0;
    // For http_put: the sha256 of the archive push() shipped (the engine compares it with the
    // probe). Empty for transports that verify by manifest.
    virtual std::optional<std::string> shipped_archive_sha256(const push_request&) const {
        return std::nullopt;
    }
};

}  // namespace labsync::transports
