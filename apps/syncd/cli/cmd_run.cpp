// `syncd run [--config FILE] [--log-format F] [--log-level L]`: the daemon (daemon.cpp).
#include "cli/commands.hpp"
#include "daemon/daemon.hpp"

namespace labsync::apps {

void register_run(CLI::App& app) {
    static run_options options;
    static std::string format, level;
    auto* run =
        app.add_subcommand("run", "run the daemon (systemd Type=notify; SIGTERM stops, SIGHUP reloads)");
    run->add_option("--config,-c", options.config_path, "configuration file")
        ->default_str("/etc/labsync/syncd.toml");
    run->add_option("--log-format", format, "auto, text, journal or json (overrides the config)")
        ->check(CLI::IsMember({"auto", "text", "journal", "json"}));
    run->add_option("--log-level", level, "debug, info, warning or error (overrides the config)")
        ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
    run->callback([] {
        if (!format.empty()) options.log_format_override = log_format_from_string(format);
        if (!level.empty()) options.log_level_override = level;
        command_exit_code = run_daemon(options);
    });
}

}  // namespace labsync::apps
