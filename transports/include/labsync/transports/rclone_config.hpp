#pragma once
// Configuration of the rclone driver: runs land at <remote>/<equipment>/<run> on any rclone
// remote (S3, SMB, SFTP, a local directory, …) described in an rclone config file. The one config
// type of this transport: syncd.toml's [equipment.NAME.transport] with kind = "rclone" maps onto it
// key by key, an embedder fills it in code; validate() holds its rules.

#include "labsync/transports/config_problem.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::transports {

struct rclone_config {
    std::filesystem::path config_file;                   // rclone.conf (passed as --config; never the user's)
    std::string remote;                                  // "nas:" or "nas:base/dir"
    std::chrono::milliseconds command_timeout{300'000};  // listing, move, hashsum
    std::chrono::milliseconds transfer_timeout{0};       // the copy; 0 = none
    std::chrono::seconds connect_timeout{10};            // rclone --contimeout
    std::chrono::milliseconds stats_interval{500};       // progress reports
    // The driver's `rclone rcd` is stopped after serving no call for this long (the next call
    // starts a new one). Not a syncd.toml key.
    std::chrono::milliseconds daemon_idle{60'000};
    std::string path_env;  // PATH where rclone is looked up; empty = the daemon's
    std::string rclone_binary = "rclone";
    std::vector<std::string> extra_args;  // appended to every rclone command
    // Notices for the operator (e.g. "no SHA-256 on this remote, hashing by download"); may be empty.
    // Not a syncd.toml key: the engine routes them to its log.
    std::function<void(std::string_view)> log;

    // Every rule of this config that needs no I/O (whether config_file exists is checked when the
    // driver is created): remote, config_file, timeouts.
    std::vector<config_problem> validate() const;
};

}  // namespace labsync::transports
