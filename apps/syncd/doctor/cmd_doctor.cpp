// `syncd doctor [--config F] [--json] [--as-user USER]`: checks a host's setup, one line per check (✓/✗, or !
// for a warning, with a fix hint). Exit 0 when every check passes, 1 when one fails, 2 when the config is
// invalid.
#include "cli/commands.hpp"
#include "daemon_config.hpp"
#include "doctor/doctor_checks.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace labsync::apps {

load_result load_and_validate(const std::filesystem::path& path);  // cmd_config.cpp

namespace {

int run_doctor(const std::string& config_path, bool json, int timeout_s, const std::string& as_user) {
    load_result loaded = load_and_validate(config_path);
    std::vector<doctor_check> checks;
    doctor_check config = make_check("config", config_path);
    config.ok = loaded.ok();
    if (loaded.ok()) {
        config.detail = fmt::format("valid, {} equipment", loaded.config.engine.equipment.size());
    } else {
        config.detail = loaded.errors.front().to_string();
        if (loaded.errors.size() > 1) config.detail += fmt::format(" (+{} more)", loaded.errors.size() - 1);
        config.hint = fmt::format("run `syncd config check {}` for every error", config_path);
    }
    checks.push_back(config);
    doctor_options options;
    if (!as_user.empty()) {
        std::string why;
        auto who = lookup_account(as_user, why);
        if (!who) {
            fmt::print(stderr, "syncd doctor: {}\n", why);
            return exit_usage;
        }
        options.as = std::move(*who);
    }
    if (loaded.ok()) {
        options.network_timeout = std::chrono::seconds(timeout_s);
        auto more = run_doctor_checks(loaded.config, options);
        checks.insert(checks.end(), more.begin(), more.end());
    }
    bool all_ok = true;
    for (const auto& c : checks) all_ok = all_ok && c.ok;
    if (json) {
        nlohmann::json out{{"ok", all_ok}, {"checks", nlohmann::json::array()}};
        for (const auto& c : checks)
            out["checks"].push_back(
                {{"name", c.name},
                 {"subject", c.subject},
                 {"ok", c.ok},
                 {"warning", c.warning},
                 {"detail", c.detail},
                 {"hint", c.ok && !c.warning ? nlohmann::json(nullptr) : nlohmann::json(c.hint)}});
        fmt::print("{}\n", out.dump(2));
    } else {
        for (const auto& c : checks) {
            fmt::print("{} {:<13} {}: {}\n",
                       !c.ok       ? "✗"
                       : c.warning ? "!"
                                   : "✓",
                       c.name, c.subject, c.detail);
            if ((!c.ok || c.warning) && !c.hint.empty()) fmt::print("    fix: {}\n", c.hint);
        }
        std::size_t failed = 0;
        for (const auto& c : checks) failed += c.ok ? 0 : 1;
        std::size_t warned = 0;
        for (const auto& c : checks) warned += c.ok && c.warning ? 1 : 0;
        std::string summary =
            all_ok ? "all checks passed" : fmt::format("{} of {} checks failed", failed, checks.size());
        if (warned > 0) summary += fmt::format(" ({} warning{})", warned, warned == 1 ? "" : "s");
        fmt::print("{}\n", summary);
    }
    if (!loaded.ok()) return exit_usage;
    return all_ok ? exit_ok : exit_failed;
}

}  // namespace

void register_doctor(CLI::App& app) {
    static std::string config = "/etc/labsync/syncd.toml";
    static bool json = false;
    static int timeout = 10;
    static std::string as_user;
    auto* c = app.add_subcommand("doctor",
                                 "check config, state dir, store, space, binaries, each equipment's "
                                 "credentials against its destination, clock");
    c->add_option("--config,-c", config, "configuration file")->default_str("/etc/labsync/syncd.toml");
    c->add_flag("--json", json, "machine-readable result");
    c->add_option("--timeout", timeout, "seconds per network check")->check(CLI::Range(1, 300));
    c->add_option(
        "--as-user", as_user,
        "check file access as this user (syncd's service user, e.g. labsync) instead of the caller");
    c->callback([] { command_exit_code = run_doctor(config, json, timeout, as_user); });
}

}  // namespace labsync::apps
