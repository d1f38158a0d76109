// `syncd run [--config FILE] [--log-format F] [--log-level L] [--log-file PATH]`: the daemon (daemon.cpp).
#include "cli/commands.hpp"
#include "daemon/daemon.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace labsync::apps {
namespace {

// --log-file: the log goes to PATH (appended, created 0640) instead of stderr. The file takes
// stderr's place, so every line the daemon writes lands there; rotate it with copytruncate.
bool redirect_stderr_to(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0 || ::dup2(fd, STDERR_FILENO) < 0) {
        fmt::print(stderr, "syncd run: --log-file {}: cannot open for appending: {}\n", path,
                   std::strerror(errno));
        if (fd >= 0) ::close(fd);
        return false;
    }
    ::close(fd);
    return true;
}

}  // namespace

void register_run(CLI::App& app) {
    static run_options options;
    static std::string format, level, log_file;
    auto* run =
        app.add_subcommand("run", "run the daemon (systemd Type=notify; SIGTERM stops, SIGHUP reloads)");
    run->add_option("--config,-c", options.config_path, "configuration file")
        ->default_str("/etc/labsync/syncd.toml");
    run->add_option("--log-format", format, "auto, text, journal or json (overrides the config)")
        ->check(CLI::IsMember({"auto", "text", "journal", "json"}));
    run->add_option("--log-level", level, "debug, info, warning or error (overrides the config)")
        ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
    run->add_option("--log-file", log_file, "append the log to this file instead of stderr");
    run->callback([] {
        if (!format.empty()) options.log_format_override = log_format_from_string(format);
        if (!level.empty()) options.log_level_override = level;
        if (!log_file.empty() && !redirect_stderr_to(log_file)) {
            command_exit_code = exit_usage;
            return;
        }
        command_exit_code = run_daemon(options);
    });
}

}  // namespace labsync::apps
