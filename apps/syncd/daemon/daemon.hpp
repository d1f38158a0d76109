#pragma once
// `syncd run`: the daemon. Lifecycle (daemon.cpp: signals, reload, the engine slot in
// engine_host, one shutdown path) is apart from health (health.cpp: watchdog, status line,
// progress, metrics). Threads (see docs/architecture.md, "Daemon"):
//   main      loads the config, waits for signals (sigwait), reloads on SIGHUP, shuts down on SIGTERM
//   io        runs the engine's io_context (workers, watchers, transports) and the watchdog tick
//   cpu       the engine's thread pool (hashing, packing)
//   admin     the admin socket's io_context (Asio, many connections at once)
//   metrics   the /metrics listener's io_context (Asio, many connections at once)
//   handlers  two threads running admin requests and scrapes, which call the engine's thread-safe API
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
