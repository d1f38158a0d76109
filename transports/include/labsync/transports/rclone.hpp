#pragma once
// The rclone driver (SPEC §6): sync RUN into <remote>/<eq>/.labsync-staging/<run>, then move it
// into <remote>/<eq>/<run>; probe = the SHA-256 of every file of the final directory. All of it
// goes through one long-lived `rclone rcd` per driver (its remote control: operations/list,
// sync/sync, sync/move, core/bwlimit; see rclone_rc.hpp), started at the first use, restarted
// when it died, stopped when the driver is destroyed. Only hashing by download (a backend
// without SHA-256, said once per equipment) still runs `rclone hashsum sha256 --download`.
//
// Visibility: moveto is one rename where the backend can move directories server-side (local,
// sftp, smb, …); on bucket stores (S3) rclone moves file by file, so a reader may briefly see a
// partial run there — the probe still proves the complete copy before anything is cleaned.

#include "labsync/transports/rclone_config.hpp"
#include "labsync/transports/transport.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace labsync::transports {

struct subprocess_options;
struct subprocess_result;
namespace detail {
class rclone_daemon;
struct rc_answer;
}  // namespace detail

class rclone final : public transport {
public:
    // `cpu` computes a local manifest when a request carries none (to judge an existing run).
    static std::unique_ptr<rclone> create(rclone_config config, boost::asio::any_io_executor cpu,
                                          std::string* why);
    // Stops the daemon (by PID: its process group) if one runs.
    ~rclone() override;

    std::string_view name() const noexcept override { return "rclone"; }
    // No evidence: the verification probes (rclone moveto prints no manifest).
    boost::asio::awaitable<push_result> push(const push_request& request) override;
    boost::asio::awaitable<probe_result> probe(const push_request& request) override;

    // Whether the remote hashes SHA-256 itself (asked once, operations/fsinfo).
    boost::asio::awaitable<std::optional<bool>> remote_has_sha256(const std::string& equipment);

private:
    rclone(rclone_config config, boost::asio::any_io_executor cpu);

    struct command_outcome;
    // `rclone hashsum sha256 --download DIR` under a bandwidth lease (see run_throttled).
    boost::asio::awaitable<command_outcome> hash_by_download(const std::string& dir,
                                                             const std::string& equipment,
                                                             rate_limiter* limiter);
    // One remote control call; a failure (no answer, or an error answer) as a transport_result
    // naming `what`.
    boost::asio::awaitable<detail::rc_answer> rc(std::string method, std::string body,
                                                 const std::string& equipment,
                                                 std::chrono::milliseconds timeout);
    transport_result rc_failure(const detail::rc_answer& answer, std::string_view what) const;
    // The daemon's rate: the sum of the shares of the transfers it runs (0 = unlimited when any
    // is unlimited); one core/bwlimit call at a time, the last wish wins.
    boost::asio::awaitable<void> set_share(std::uint64_t transfer, std::optional<std::uint64_t> share,
                                           const std::string& equipment);
    // Runs rclone under a lease of the bandwidth budget: --bwlimit at the share it starts with,
    // and a remote control on a private loopback port (random credentials, passed in the
    // environment) through which core/bwlimit applies every later share. No limiter: as is.
    boost::asio::awaitable<subprocess_result> run_throttled(subprocess_options options,
                                                            rate_limiter* limiter);
    boost::asio::awaitable<probe_result> remote_manifest(const std::string& dir, const std::string& equipment,
                                                         rate_limiter* limiter);
    // The steps of push(); `sent`: the bytes rclone's stats reported sent.
    boost::asio::awaitable<transport_result> transfer(const push_request& request, std::uint64_t& sent);
    boost::asio::awaitable<transport_result> sync_into(const push_request& request,
                                                       const std::string& staging, std::uint64_t& sent);
    boost::asio::awaitable<transport_result> judge_existing(const push_request& request,
                                                            const std::string& dir);
    void notice_once(const std::string& equipment, const std::string& text);

    rclone_config config_;
    boost::asio::any_io_executor cpu_;
    std::unique_ptr<detail::rclone_daemon> daemon_;
    std::optional<bool> sha256_native_;
    std::mutex shares_mutex_;
    std::map<std::uint64_t, std::uint64_t> shares_;  // running transfer → its share (bytes/s)
    std::uint64_t next_transfer_ = 0;
    std::optional<std::uint64_t> daemon_rate_;  // the last rate sent with core/bwlimit
    bool setting_rate_ = false;
    std::mutex noticed_mutex_;
    std::set<std::string> noticed_;
};

}  // namespace labsync::transports
