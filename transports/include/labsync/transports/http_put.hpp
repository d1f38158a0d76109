#pragma once
// The http_put driver (SPEC §6): packs a run into <outbox>/<equipment>/<run>.tar.zst on the CPU
// pool (or reuses an intact archive already there), then PUTs it to a syncd-receiver with its
// sha256 over a kept-alive HTTP(S) connection, and probes the receiver with GET.
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
}

class http_put final : public transport {
public:
    // `cpu` runs packing and archive checks (a thread_pool's executor); I/O runs on the
    // executor of the coroutine that calls push/probe. `ops` replaces the archiver in tests.
    static std::unique_ptr<http_put> create(http_put_config config, boost::asio::any_io_executor cpu,
                                            std::string* why, outbox_ops ops = default_outbox_ops());
    ~http_put() override;

    std::string_view name() const noexcept override { return "http_put"; }
    // On 201/200 the result's evidence is the sha256 the receiver names in its answer (the
    // bytes it received and fsynced, or re-hashed when it already held them).
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

    http_put_config config_;
    parsed_url url_;
    boost::asio::any_io_executor cpu_;
    outbox_ops ops_;
    std::unique_ptr<detail::http_client> client_;
};

}  // namespace labsync::transports
