// `syncd config check FILE [--json]`: validates a configuration without starting anything (exit 0
// valid, 2 invalid). `syncd config default [--dir D] [--receiver-url URL]`: prints the embedded
// default configuration.
#include "cli/commands.hpp"
#include "daemon_config.hpp"

#include "labsync/common/secret_file.hpp"
#include "labsync/engine/engine.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

namespace labsync::apps {

// The loader checks syntax and each key; engine::validate() adds the cross-field checks the
// engine itself relies on. Both run for `config check`, `run` and SIGHUP reloads.
// And the permissions of each token_file (like ssh with a private key): readable by group or
// others is a warning, writable by them an error.
load_result load_and_validate(const std::filesystem::path& path) {
    load_result result = load_config(path);
    if (!result.ok()) return result;
    if (engine::engine_error e = engine::validate(result.config.engine))
        result.errors.push_back({path.string(), 0, 0, "", e.message});
    for (const auto& eq : result.config.engine.equipment) {
        const auto* http = std::get_if<transports::http_put_config>(&eq.transport);
        if (!http || http->token_file.empty()) continue;
        const auto& token_file = http->token_file;
        auto perms = common::check_secret_file(token_file, "token_file");
        if (perms.message.empty()) continue;
        config_error e{path.string(), 0, 0, "equipment." + eq.name + ".transport.token_file", perms.message};
        if (perms.exposure == common::secret_exposure::writable_by_others)
            result.errors.push_back(std::move(e));
        else
            result.warnings.push_back(std::move(e));
    }
    return result;
}

namespace {

int check(const std::string& file, bool json) {
    load_result result = load_and_validate(file);
    if (json) {
        nlohmann::json out;
        out["file"] = file;
        out["ok"] = result.ok();
        out["errors"] = nlohmann::json::array();
        for (const auto& e : result.errors)
            out["errors"].push_back({{"file", e.file},
                                     {"line", e.line},
                                     {"column", e.column},
                                     {"key", e.key},
                                     {"message", e.message}});
        out["warnings"] = nlohmann::json::array();
        for (const auto& w : result.warnings)
            out["warnings"].push_back({{"file", w.file}, {"key", w.key}, {"message", w.message}});
        if (result.ok()) {
            out["equipment"] = nlohmann::json::array();
            for (const auto& eq : result.config.engine.equipment) out["equipment"].push_back(eq.name);
        }
        fmt::print("{}\n", out.dump(2));
        return result.ok() ? exit_ok : exit_usage;
    }
    for (const auto& w : result.warnings) fmt::print(stderr, "warning: {}\n", w.to_string());
    if (result.ok()) {
        fmt::print("{}: ok ({} equipment:", file, result.config.engine.equipment.size());
        for (const auto& eq : result.config.engine.equipment) fmt::print(" {}", eq.name);
        fmt::print(")\n");
    } else {
        fmt::print(stderr, "{}", format_errors(result.errors));
        fmt::print(stderr, "{}: {} error{}\n", file, result.errors.size(),
                   result.errors.size() == 1 ? "" : "s");
    }
    return result.ok() ? exit_ok : exit_usage;
}

}  // namespace

void register_config(CLI::App& app) {
    auto* config = app.add_subcommand("config", "check or print a configuration");
    config->require_subcommand(1);

    static std::string file;
    static bool json = false;
    auto* c =
        config->add_subcommand("check", "validate a configuration file without starting (exit 2 on error)");
    c->add_option("FILE", file, "syncd.toml")->required();
    c->add_flag("--json", json, "machine-readable result");
    c->callback([] { command_exit_code = check(file, json); });

    static default_config_params params;
    auto* d = config->add_subcommand("default", "print the embedded default configuration");
    d->add_option("--dir", params.base_dir, "base directory of state/, runs/, pki/ (default: .)");
    d->add_option("--receiver-url", params.receiver_url, "syncd-receiver base URL");
    d->add_option("--admin-socket", params.admin_socket, "admin socket path (default: DIR/syncd.sock)");
    d->callback([] {
        std::error_code ec;
        auto abs = std::filesystem::absolute(params.base_dir, ec).lexically_normal().string();
        if (abs.size() > 1 && abs.back() == '/') abs.pop_back();
        default_config_params p = params;
        p.base_dir = abs;
        fmt::print("{}", default_config_text(p));
        command_exit_code = exit_ok;
    });
}

}  // namespace labsync::apps
