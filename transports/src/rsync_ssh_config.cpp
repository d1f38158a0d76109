// The rules of rsync_ssh_config (see rsync_ssh_config.hpp); names are syncd.toml's keys.
#include "labsync/transports/rsync_ssh_config.hpp"

#include "config_rules.hpp"

namespace labsync::transports {

std::vector<config_problem> rsync_ssh_config::validate() const {
    using namespace std::chrono_literals;
    std::vector<config_problem> out;
    detail::require(out, "host", host, "the ssh host, e.g. \"nas.lab\"");
    detail::require(out, "user", user, "the login on the remote, e.g. \"labsync\"");
    if (port == 0) out.push_back({"port", "0 is not a TCP port"});
    detail::require(out, "key_file", identity_file, "the private key ssh logs in with");
    detail::require(out, "known_hosts", known_hosts, "the file holding the remote's host key");
    detail::require(out, "remote_dir", dest, "the equipment's directory on the remote");
    if (!dest.empty() && dest.front() != '/')
        out.push_back({"remote_dir", "\"" + dest + "\" must be an absolute path on the remote"});
    detail::require_at_least(out, "control_persist", control_persist, 0s);
    detail::require_at_least(out, "connect_timeout", connect_timeout, 1s);
    detail::require_at_least(out, "command_timeout", command_timeout, 1s);
    detail::require_at_least(out, "transfer_timeout", transfer_timeout, 0s);
    return out;
}

}  // namespace labsync::transports
