#pragma once
// The pure half of the rclone driver: remote paths, argv vectors and output parsers.

#include "labsync/transports/rclone_config.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::transports {

struct rclone_paths {
    std::string equipment_dir;  // <remote>/<equipment>
    std::string final_dir;      // <remote>/<equipment>/<run>
    std::string staging_dir;    // <remote>/<equipment>/.labsync-staging/<run>
};
rclone_paths make_rclone_paths(std::string_view remote, std::string_view equipment, std::string_view run);

// rclone <args> plus the flags every command gets (--config, --use-json-log, --retries 1, …).
std::vector<std::string> rclone_argv(const rclone_config& config, std::vector<std::string> args);

// The "Hashes" list of `rclone backend features` JSON holds "sha256".
std::optional<bool> features_have_sha256(std::string_view features_json);

// rclone's transfer statistics (core/stats, see rclone_rc.hpp): bytes sent, bytes to send.
struct rclone_stats {
    std::uint64_t bytes = 0;
    std::uint64_t total_bytes = 0;
};

// --bwlimit value for a limit in bytes per second ("off" for 0).
std::string rclone_bwlimit(std::uint64_t bytes_per_second);

// The remote control of one `rclone hashsum --download` (the one rclone command still spawned,
// see rclone.hpp): flags that serve it on a free loopback port (the
// credentials go in the environment, RCLONE_RC_USER / RCLONE_RC_PASS, never on argv), the
// address rclone announces on stderr ({"msg":"Serving remote control on http://127.0.0.1:N/"}),
// and `rclone rc` setting the transfer's rate (credentials: RCLONE_USER / RCLONE_PASS).
std::vector<std::string> rclone_rc_serve_flags();
std::optional<std::string> parse_rclone_rc_url(std::string_view line);
std::vector<std::string> rclone_rc_bwlimit_argv(const rclone_config& config, const std::string& url,
                                                std::uint64_t bytes_per_second);

}  // namespace labsync::transports
