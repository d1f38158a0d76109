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

// A --use-json-log stats line: {"stats":{"bytes":N,"totalBytes":M,…},…}.
struct rclone_stats {
    std::uint64_t bytes = 0;
    std::uint64_t total_bytes = 0;
};
std::optional<rclone_stats> parse_rclone_stats(std::string_view line);

// --bwlimit value for a limit in bytes per second ("off" for 0).
std::string rclone_bwlimit(std::uint64_t bytes_per_second);

}  // namespace labsync::transports
