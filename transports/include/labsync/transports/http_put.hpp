#pragma once
// The http_put driver (SPEC §6): packs a run on the CPU pool and streams the archive as it is made
// into a resumable upload of a syncd-receiver (a bounded memory spool, no local copy), over a
// kept-alive HTTP(S) connection, and probes the receiver with GET. Receivers without uploads, or
// already holding the run, get one PUT of <outbox>/<equipment>/<run>.tar.zst (packed, or an
// intact archive reused).
// Beast stays behind this header: the HTTP exchange lives in src/http_put_client.cpp.

#include "labsync/transports/http_put_config.hpp"
#include "labsync/transports/http_put_outbox.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <string>
#include <vector>

namespace labsync::transports {

namespace detail {
class http_client;
class spool_pack;
class upload_session;
struct upload_outcome;
}  // namespace detail

class http_put final : public transport {
public:
    // `cpu` runs packing and archive checks (a thread_pool's executor); I/O runs on the
    // executor of the coroutine that calls push/probe. `ops` replaces the archiver in tests.
    static std::unique_ptr<http_put> create(http_put_config config, boost::asio::any_io_executor cpu,
                                            std::string* why, outbox_ops ops = default_outbox_ops());
    ~http_put() override;

    std::string_view name() const noexcept override { return "http_put"; }
    bool push_hashes_run() const noexcept override { return true; }
    // On 201/200 the result's evidence is the sha256 the receiver names in its answer (the
    // bytes it received and fsynced, or re-hashed when it already held them); a streamed push
    // also carries the run's build result (its manifest from the same read).
    boost::asio::awaitable<push_result> push(const push_request& request) override;
    // Always a verify request: the receiver re-hashes the stored archive.
    boost::asio::awaitable<probe_result> probe(const push_request& request) override;
    // Removes the run's outbox archive (and a stale .partial).
    std::string release(const std::string& equipment, const std::string& run) override;
    // Removes outbox archives of runs no longer wanted, for every equipment under the outbox.
    std::vector<std::string> sweep(const wanted_fn& is_wanted) override;

    // Where push() keeps the archive of a run.
    std::filesystem::path outbox_path(std::string_view equipment, std::string_view run) const;

    // Connections opened so far (tests check keep-alive reuse).
    std::uint64_t connections_opened() const noexcept;

private:
    http_put(http_put_config config, parsed_url url, boost::asio::any_io_executor cpu, outbox_ops ops);
    std::string run_url(const push_request& request) const;
    // Sends the spool `pack` fills through `session`; the pack's result.
    boost::asio::awaitable<outbox_archive> stream(detail::spool_pack& pack, detail::upload_session& session,
                                                  detail::upload_outcome& up);

    http_put_config config_;
    parsed_url url_;
    boost::asio::any_io_executor cpu_;
    outbox_ops ops_;
    std::unique_ptr<detail::http_client> client_;
};

}  // namespace labsync::transports
