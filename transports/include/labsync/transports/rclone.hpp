#pragma once
// The rclone driver (SPEC §6): `rclone sync RUN <remote>/<eq>/.labsync-staging/<run>`, then
// `rclone moveto` into <remote>/<eq>/<run>; probe = `rclone hashsum sha256` of the final
// directory (with --download when the backend has no SHA-256, said once per equipment).
//
// Visibility: moveto is one rename where the backend can move directories server-side (local,
// sftp, smb, …); on bucket stores (S3) rclone moves file by file, so a reader may briefly see a
// partial run there — the probe still proves the complete copy before anything is cleaned.

#include "labsync/transports/rclone_config.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace labsync::transports {

struct subprocess_options;
struct subprocess_result;

class rclone final : public transport {
public:
    // `cpu` computes a local manifest when a request carries none (to judge an existing run).
    static std::unique_ptr<rclone> create(rclone_config config, boost::asio::any_io_executor cpu,
                                          std::string* why);

    std::string_view name() const noexcept override { return "rclone"; }
    // No evidence: the verification probes (rclone moveto prints no manifest).
    boost::asio::awaitable<push_result> push(const push_request& request) override;
    boost::asio::awaitable<probe_result> probe(const push_request& request) override;

    // Whether the remote hashes SHA-256 itself (asked once with `rclone backend features`).
    boost::asio::awaitable<std::optional<bool>> remote_has_sha256(const std::string& equipment);

private:
    rclone(rclone_config config, boost::asio::any_io_executor cpu);

    struct command_outcome;
    // `limiter` set: the command moves run data and runs under a bandwidth lease (see
    // run_throttled).
    boost::asio::awaitable<command_outcome> run(std::vector<std::string> args, const std::string& equipment,
                                                std::chrono::milliseconds timeout,
                                                rate_limiter* limiter = nullptr);
    // Runs rclone under a lease of the bandwidth budget: --bwlimit at the share it starts with,
    // and a remote control on a private loopback port (random credentials, passed in the
    // environment) through which core/bwlimit applies every later share. No limiter: as is.
    boost::asio::awaitable<subprocess_result> run_throttled(subprocess_options options,
                                                            rate_limiter* limiter);
    boost::asio::awaitable<probe_result> remote_manifest(const std::string& dir, const std::string& equipment,
                                                         rate_limiter* limiter);
    // The steps of push(); `sent`: the bytes rclone's stats reported sent.
    boost::asio::awaitable<transport_result> transfer(const push_request& request, std::uint64_t& sent);
    boost::asio::awaitable<transport_result> judge_existing(const push_request& request,
                                                            const std::string& dir);
    void notice_once(const std::string& equipment, const std::string& text);

    rclone_config config_;
    boost::asio::any_io_executor cpu_;
    std::optional<bool> sha256_native_;
    std::mutex noticed_mutex_;
    std::set<std::string> noticed_;
};

}  // namespace labsync::transports
