#pragma once
// What `syncd run` needs besides the engine's own configuration: where the admin socket and the
// metrics listener live, how to log, when the watchdog considers the daemon wedged. Filled by
// config_loader from the [global] table of syncd.toml.

#include "labsync/engine/engine_config.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

namespace labsync::config {

enum class log_format { auto_detect, text, journal, json };

std::string_view to_string(log_format format) noexcept;
std::optional<log_format> log_format_from_string(std::string_view text) noexcept;

struct daemon_settings {
    std::filesystem::path admin_socket = "/run/labsync/syncd.sock";
    std::string admin_socket_group;  // empty = the daemon's primary group
    unsigned admin_socket_mode = 0660;
    std::string metrics_listen = "127.0.0.1:9101";  // empty = no /metrics listener
    log_format log_format_value = log_format::auto_detect;
    std::string log_level = "info";  // debug, info, warning, error
    // WATCHDOG=1 stops when jobs are active but nothing moved for this long (a wedged transport).
    std::chrono::milliseconds watchdog_stall{std::chrono::minutes(15)};
    // SIGTERM: how long in-flight work may take to checkpoint before the daemon exits anyway.
    std::chrono::milliseconds shutdown_grace{std::chrono::seconds(20)};
};

struct daemon_config {
    std::filesystem::path source;  // the file it came from ("<embedded>" for the demo default)
    daemon_settings daemon;
    engine::engine_config engine;
};

// One problem in a configuration file: where, which key, why.
struct config_error {
    std::string file;
    int line = 0;  // 1-based; 0 when the problem has no position (e.g. the file is unreadable)
    int column = 0;
    std::string key;  // dotted path, e.g. "equipment.scope-1.transport.url"
    std::string message;

    std::string to_string() const;  // "FILE:LINE:COL: KEY: MESSAGE"
};

}  // namespace labsync::config
