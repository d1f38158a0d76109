// The spool's packer thread and the single-PUT path of small archives (see http_put_small.hpp).
#include "http_put_small.hpp"

#include "labsync/transports/http_status.hpp"

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;

namespace labsync::transports::detail {

bool archive_fits(const std::filesystem::path& run, std::uint64_t limit) {
    // Per member a 512-byte header and up to 511 bytes of padding, per file a manifest line
    // (two hex digests' worth and the path), the end marker, and zstd's frame overhead on
    // incompressible input (well below 1/128).
    constexpr std::uint64_t per_member = 1024, per_file = 160, fixed = 4096;
    namespace fs = std::filesystem;
    std::error_code ec;
    std::uint64_t bound = fixed;
    const auto fits = [&] { return bound + bound / 128 < limit; };
    for (fs::recursive_directory_iterator it(run, ec), end; !ec && it != end; it.increment(ec)) {
        const auto st = it->symlink_status(ec);
        if (ec) return false;
        bound += per_member + it->path().native().size();  // a long name takes blocks of its own
        if (fs::is_regular_file(st)) {
            const auto size = it->file_size(ec);
            if (ec) return false;
            bound += size + per_file;
        }
        if (!fits()) return false;
    }
    return !ec && fits();
}

spool_pack::spool_pack(asio::any_io_executor io, std::uint64_t capacity, std::uint64_t skip,
                       const pack_fn& pack, const push_request& request, int level)
    : spool_(std::make_shared<upload_spool>(std::move(io), capacity, skip)), skip_(skip) {
    packer_ = std::jthread(
        [spool = spool_, pack, run = request.run_path, level, progress = request.on_pack_progress] {
            const verifier::archive_sink sink = [&spool](std::span<const std::byte> bytes) {
                return spool->append(bytes);
            };
            spool->finish(pack(run, sink, level, progress));
        });
}

spool_pack::~spool_pack() {
    spool_->cancel();  // a blocked append() returns: the packer ends, then it is joined
}

asio::awaitable<small_put_outcome> put_small(http_client& client, const upload_job& job, spool_pack& pack,
                                             http_exchange& x) {
    auto& spool = pack.spool();
    auto now = spool.snapshot();
    // A part's worth means the upload would send it in several requests anyway: let it.
    while (!now.finished && now.end < job.part_bytes) {
        co_await spool.wait();
        now = spool.snapshot();
    }
    if (!now.finished || pack.skip() != 0) co_return small_put_outcome::not_small;
    if (spool.result().error) co_return small_put_outcome::pack_failed;
    if (now.end >= job.part_bytes) co_return small_put_outcome::not_small;

    header_list h = job.headers;
    h.emplace_back("X-Content-SHA256", spool.result().sha256_hex);
    file_body body;
    body.view = [&spool](std::uint64_t at, std::size_t max) { return spool.view(at, max); };
    body.size = now.end;
    body.chunk_bytes = job.chunk_bytes;
    body.limiter = job.limiter;
    body.on_progress = job.on_progress;
    // Over a stored copy the receiver re-reads it before answering.
    x = co_await client.put(job.run_target, h, body, stored_read_timeout(job.response_timeout, now.end));
    // --max-body below this archive: refused before the body; the upload's parts fit its limit.
    if (x.completed && x.status == 413 && !x.body_sent) co_return small_put_outcome::not_small;
    co_return small_put_outcome::answered;
}

}  // namespace labsync::transports::detail
