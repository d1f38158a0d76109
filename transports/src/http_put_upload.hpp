#pragma once
// The streaming resumable upload (docs/protocol.md "Resumable uploads", sender side): create an
// upload resource with POST, append parts with PATCH straight from the memory spool the packer
// fills (no larger than the receiver's Upload-Limit and part_bytes), and after a failure ask the
// offset with HEAD (retrying with back-off) and go on from the spool. A run the receiver already
// holds, or a receiver without uploads, gets a PUT. The upload's Location is kept in
// `<archive>.upload` (fsynced) so that a later push, even after a sender restart, continues it:
// it re-packs and skips what the receiver holds. Plain header: used by http_put.cpp only.

#include "http_put_client.hpp"
#include "http_put_spool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::transports::detail {

// `max-append-size` of an Upload-Limit field value; nullopt when absent or malformed.
std::optional<std::uint64_t> max_append_size(std::string_view upload_limit) noexcept;
// The request target of a Location: an absolute URL loses its scheme and authority.
std::string location_target(std::string_view location);
struct upload_job {
    std::string run_target;  // /v1/runs/E/R
    std::string where;       // the run's URL, for messages
    header_list headers;     // Authorization, X-Code-Commit
    std::filesystem::path sidecar;
    std::uint64_t part_bytes = 0;  // already capped by half the spool
    std::size_t chunk_bytes = 0;
    bandwidth_lease* limiter = nullptr;
    const progress_fn* on_progress = nullptr;
    std::chrono::milliseconds response_timeout{0};
    std::chrono::milliseconds reconnect_for{0};  // how long to keep asking a vanished receiver
    boost::asio::any_io_executor pool;           // where the sidecar's file I/O runs
};

struct upload_outcome {
    // Send one PUT: the receiver has no resumable uploads, or already holds the run (it answers
    // the PUT before the body).
    bool put_instead = false;
    // The receiver refused the completed upload (422: digest or member check): it holds bytes
    // of another version of the run (changed between a failed push and this one). The upload
    // was deleted: start a new one from zero.
    bool restart = false;
    http_exchange last;  // the completing answer, or what stopped the upload
    std::string method;  // of `last`
    std::uint64_t bytes_sent = 0;
    std::uint64_t resumed_at = 0;  // offset the receiver already held when this push began
};

// One upload resource, driven by the spool the packer fills (http_put_spool.hpp).
class upload_session {
public:
    upload_session(http_client& client, const upload_job& job) : client_(client), job_(job) {}

    // Continues the upload the sidecar names (HEAD) or creates one (GET for a stored run, then
    // POST). False with `out` set when there is nothing to stream to (put_instead, or a failure).
    boost::asio::awaitable<bool> open(upload_outcome& out);
    // Bytes the receiver holds: the packer skips them.
    std::uint64_t offset() const noexcept { return offset_; }
    // Sends the spool from offset() until the completing answer or a failure. Never touches the
    // CPU pool (the packer may hold its threads) until the spool is finished.
    boost::asio::awaitable<void> send(upload_spool& spool, upload_outcome& out);
    // After the pack ended: DELETE a refused upload (restart) and drop or keep the sidecar.
    boost::asio::awaitable<void> close(upload_outcome& out);

private:
    header_list fields(const header_list& extra) const;
    boost::asio::awaitable<std::optional<bool>> ask_offset(upload_outcome& out);
    boost::asio::awaitable<bool> create(upload_outcome& out);

    http_client& client_;
    const upload_job& job_;
    std::string location_;  // request target of the upload
    std::uint64_t offset_ = 0;
    std::optional<std::uint64_t> limit_;
    bool completed_ = false;  // a final answer to the completing request: the sidecar goes
};

}  // namespace labsync::transports::detail
