#pragma once
// Shared by the admin subcommands: where the daemon's socket is (--socket, else the admin_socket of
// --config, else $LABSYNC_ADMIN_SOCKET, else /run/labsync/syncd.sock) and one call with the exit
// code policy: 0 ok, 1 the daemon refused, 4 the daemon is unreachable.

#include "admin/admin_protocol.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace labsync::apps {

struct admin_target {
    std::string socket;
    std::string config;
};

void add_target_options(CLI::App& command, admin_target& target);

// Resolves the socket; nullopt with `why` when --config cannot be read.
std::optional<std::filesystem::path> resolve_socket(const admin_target& target, std::string& why);

// Sends the request; on failure prints the reason to stderr and sets `exit_code`.
std::optional<admin_response> call_daemon(const admin_target& target, const admin_request& request,
                                          int& exit_code);

}  // namespace labsync::apps
