#pragma once
// Configuration of the rsync_ssh driver: where the remote is, how ssh authenticates, and where
// runs land (DEST/<equipment>/<run>/ on the remote). The one config type of this transport:
// syncd.toml's [equipment.NAME.transport] with kind = "rsync_ssh" maps onto it (keys named where
// they differ), an embedder fills it in code; validate() holds its rules.

#include "labsync/transports/config_problem.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace labsync::transports {

struct rsync_ssh_config {
    std::string host;
    std::uint16_t port = 22;
    std::string user;
    std::filesystem::path identity_file;  // private key (ssh -i); syncd.toml: key_file
    std::filesystem::path known_hosts;    // the only known_hosts file ssh consults for this host
    std::string dest;                     // absolute directory on the remote; syncd.toml: remote_dir
    // Private directory for ControlMaster sockets (created 0700); empty = a fresh one under /tmp,
    // removed with the driver.
    std::filesystem::path control_dir;
    std::chrono::seconds control_persist{60};  // idle master connections close after this
    std::chrono::seconds connect_timeout{10};
    std::chrono::milliseconds command_timeout{120'000};  // one remote command (prepare, move, probe)
    std::chrono::milliseconds transfer_timeout{0};       // the rsync transfer; 0 = none
    bool remote_sync = true;  // fsync the staged files, then the rename, on the remote (durability)
    std::string path_env;     // PATH where rsync and ssh are looked up; empty = the daemon's
    std::string rsync_binary = "rsync";
    std::string ssh_binary = "ssh";
    std::vector<std::string> extra_rsync_args;  // syncd.toml: extra_args

    // Every rule of this config that needs no I/O: host, user, key_file, known_hosts, remote_dir,
    // port, timeouts.
    std::vector<config_problem> validate() const;
};

}  // namespace labsync::transports
