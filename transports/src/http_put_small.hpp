#pragma once
// The packer of one http_put push on a thread of its own, filling the upload spool, and the
// small-run path (docs/architecture.md "http_put data path"): an archive that ends within one
// upload part, with no earlier upload to continue, goes as ONE PUT from memory (X-Content-SHA256,
// Expect: 100-continue) instead of GET + POST + PATCH and the upload's fsynced sidecar. Larger
// archives go the resumable upload's way from the start; a receiver whose --max-body refuses the
// PUT (413 before the body) gets the same spool through the resumable upload. Plain header: used by
// http_put.cpp only.

#include "http_put_spool.hpp"
#include "http_put_upload.hpp"
#include "labsync/transports/http_put_outbox.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <thread>

namespace labsync::transports::detail {

// The packer, on a thread of its own: it waits for the receiver whenever the spool is full, so on
// the CPU pool it would hold a pool thread for the whole upload, and as many uploads as pool
// threads would stall every other job's manifest and gate walk. It ends when the pack does or the
// spool is cancelled; the destructor cancels the spool before it joins the thread, in that order.
class spool_pack {
public:
    using pack_fn = decltype(outbox_ops::stream);
    // Packs request.run_path at `level` into a spool of `capacity` bytes whose first `skip` bytes
    // the receiver holds already. `request` is read only here (its path and pack progress copied).
    spool_pack(boost::asio::any_io_executor io, std::uint64_t capacity, std::uint64_t skip,
               const pack_fn& pack, const push_request& request, int level);
    ~spool_pack();
    spool_pack(const spool_pack&) = delete;
    spool_pack& operator=(const spool_pack&) = delete;

    upload_spool& spool() noexcept { return *spool_; }
    std::uint64_t skip() const noexcept { return skip_; }

private:
    std::shared_ptr<upload_spool> spool_;
    std::uint64_t skip_;
    std::jthread packer_;
};

// Whether the archive of `run` surely stays below `limit` bytes: its files' sizes plus tar and
// manifest overhead, summed by a walk that stops as soon as the sum reaches the limit (a few
// entries for a run of one part, never the whole of a large run). Any error: false.
bool archive_fits(const std::filesystem::path& run, std::uint64_t limit);

enum class small_put_outcome {
    not_small,    // the archive fills a part, or the receiver refused a single request of this size
    pack_failed,  // the pack ended in an error: spool().result() says which
    answered,     // the PUT was made: `x` holds its answer (or the failure that stopped it)
};

// Waits until the pack of `pack` (skip 0) ends or fills job.part_bytes; an archive that ended
// below that is PUT whole from the spool. On not_small nothing was sent and the spool still
// holds every byte from 0.
boost::asio::awaitable<small_put_outcome> put_small(http_client& client, const upload_job& job,
                                                    spool_pack& pack, http_exchange& x);

}  // namespace labsync::transports::detail
