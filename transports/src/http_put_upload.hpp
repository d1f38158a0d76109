#pragma once
// The resumable upload of an outbox archive (docs/protocol.md "Resumable uploads", sender side):
// create an upload resource with POST, append parts with PATCH no larger than the receiver's
// Upload-Limit and the config's part_bytes, and after a failure ask the offset with HEAD and go
// on from there. A run the receiver already holds, or a receiver without uploads, gets a PUT. The upload's
// Location is kept in `<archive>.upload` (fsynced) so that a later push, even after a sender restart,
// continues it. Plain header: used by http_put.cpp only.

#include "http_put_client.hpp"

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
// The next part: at most `part_cap` and the receiver's limit (when known), what is left otherwise.
std::uint64_t next_part(std::uint64_t offset, std::uint64_t size, std::uint64_t part_cap,
                        std::optional<std::uint64_t> receiver_limit) noexcept;

struct upload_job {
    std::string run_target;  // /v1/runs/E/R
    std::string where;       // the run's URL, for messages
    header_list headers;     // Authorization, X-Code-Commit
    int fd = -1;
    std::uint64_t size = 0;
    std::string sha256_hex;
    std::filesystem::path sidecar;
    std::uint64_t part_bytes = 0;
    std::size_t chunk_bytes = 0;
    bandwidth_lease* limiter = nullptr;
    const progress_fn* on_progress = nullptr;
    std::chrono::milliseconds response_timeout{0};
    boost::asio::any_io_executor pool;  // where the sidecar's file I/O runs
};

struct upload_outcome {
    // Send one PUT: the receiver has no resumable uploads, or already holds the run (it answers
    // the PUT before the body).
    bool put_instead = false;
    http_exchange last;  // the completing answer, or what stopped the upload
    std::string method;  // of `last`
    std::uint64_t bytes_sent = 0;
    std::uint64_t resumed_at = 0;  // offset the receiver already held when this push began
};

boost::asio::awaitable<upload_outcome> upload_archive(http_client& client, const upload_job& job);

}  // namespace labsync::transports::detail
