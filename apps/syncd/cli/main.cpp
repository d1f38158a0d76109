// syncd: ships instrument runs to durable storage and proves they arrived.
#include "cli/commands.hpp"
#include "cli_conventions.hpp"

#include <cstdio>

int main(int argc, char** argv) {
    CLI::App app{"syncd: ships instrument runs to durable remote storage and proves they arrived", "syncd"};
    app.require_subcommand(1);
    labsync::apps::add_cli_conventions(app, "syncd");
    labsync::apps::register_manifest(app);
    labsync::apps::register_put(app);
    labsync::apps::register_pack(app);
    labsync::apps::register_check_archive(app);
    labsync::apps::register_config(app);
    labsync::apps::register_run(app);
    labsync::apps::register_status(app);
    labsync::apps::register_admin(app);
    labsync::apps::register_doctor(app);
    if (argc <= 1) {  // bare `syncd`: what it can do, as a usage error
        std::fputs(app.help().c_str(), stderr);
        return labsync::apps::exit_usage;
    }
    if (int code = labsync::apps::parse_command_line(app, argc, argv); code >= 0) return code;
    return labsync::apps::command_exit_code;
}
