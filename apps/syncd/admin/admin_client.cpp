// See admin_client.hpp.
#include "admin/admin_client.hpp"

#include "admin/admin_server.hpp"
#include "cli/commands.hpp"
#include "daemon_config.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>

namespace labsync::apps {

void add_target_options(CLI::App& command, admin_target& target) {
    command.add_option("--socket", target.socket, "admin socket of the daemon");
    command.add_option("--config,-c", target.config, "take the admin socket from this configuration");
}

std::optional<std::filesystem::path> resolve_socket(const admin_target& target, std::string& why) {
    if (!target.socket.empty()) return std::filesystem::path(target.socket);
    if (!target.config.empty()) {
        load_result loaded = load_config(target.config);
        if (!loaded.ok()) {
            why = format_errors(loaded.errors);
            return std::nullopt;
        }
        return loaded.config.daemon.admin_socket;
    }
    if (const char* env = std::getenv("LABSYNC_ADMIN_SOCKET"); env && *env) return std::filesystem::path(env);
    return daemon_settings{}.admin_socket;
}

std::optional<admin_response> call_daemon(const admin_target& target, const admin_request& request,
                                          int& exit_code) {
    std::string why;
    auto socket = resolve_socket(target, why);
    if (!socket) {
        fmt::print(stderr, "{}", why);
        exit_code = exit_usage;
        return std::nullopt;
    }
    auto response = admin_call(*socket, request, why);
    if (!response) {
        fmt::print(stderr, "syncd: {}\n", why);
        exit_code = exit_unreachable;
        return std::nullopt;
    }
    if (!response->ok) {
        fmt::print(stderr, "syncd {}: {} ({})\n", to_string(request.op), response->message, response->error);
        exit_code = response->error == "bad_request" ? exit_usage : exit_failed;
    } else {
        exit_code = exit_ok;
    }
    return response;
}

}  // namespace labsync::apps
