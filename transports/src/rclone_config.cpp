// The rules of rclone_config (see rclone_config.hpp); names are syncd.toml's keys.
#include "labsync/transports/rclone_config.hpp"

#include "config_rules.hpp"

namespace labsync::transports {

std::vector<config_problem> rclone_config::validate() const {
    using namespace std::chrono_literals;
    std::vector<config_problem> out;
    detail::require(out, "remote", remote, "an rclone remote, e.g. \"nas:instruments/scope-1\"");
    if (!remote.empty() && remote.find(':') == std::string::npos)
        out.push_back(
            {"remote", "\"" + remote + "\" must name an rclone remote (\"name:\" or \"name:path\")"});
    detail::require(out, "config_file", config_file,
                    "the rclone.conf describing the remote; syncd never reads the user's");
    detail::require_at_least(out, "command_timeout", command_timeout, 1s);
    detail::require_at_least(out, "transfer_timeout", transfer_timeout, 0s);
    detail::require_at_least(out, "connect_timeout", connect_timeout, 1s);
    detail::require_at_least(out, "stats_interval", stats_interval, 100ms);
    detail::require_at_least(out, "daemon_idle", daemon_idle, 100ms);
    return out;
}

}  // namespace labsync::transports
