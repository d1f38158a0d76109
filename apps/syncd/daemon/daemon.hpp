#pragma once
// `syncd run`: the daemon. Threads (see docs/operations.md, "Threads"):
//   main     loads the config, waits for signals (sigwait), reloads on SIGHUP, shuts down on SIGTERM
//   io       runs the engine's io_context (workers, watchers, transports) and the watchdog tick
//   cpu      the engine's thread pool (hashing, packing)
//   admin    the admin socket (admin_server), calling the engine's thread-safe API
//   metrics  the /metrics listener
// Every signal is blocked in every thread; only main receives them, synchronously.

#include "daemon_config.hpp"

#include <filesystem>
#include <optional>
#include <string>

namespace labsync::apps {

struct run_options {
    std::filesystem::path config_path = "/etc/labsync/syncd.toml";
    std::optional<log_format> log_format_override;
    std::optional<std::string> log_level_override;
};

// Runs until SIGTERM/SIGINT; returns the process exit code (0 after a clean stop, 2 when the
// config is invalid, 1 when the daemon cannot start).
int run_daemon(const run_options& options);

}  // namespace labsync::apps
