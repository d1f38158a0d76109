// syncd: ships instrument runs to durable storage and proves they arrived.
#include "cli/commands.hpp"

#include <cstdio>

int main(int argc, char** argv) {
    CLI::App app{"syncd: ships instrument runs to durable remote storage and proves they arrived", "syncd"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "syncd 0.1.0");
    labsync::apps::register_manifest(app);
    labsync::apps::register_put(app);
    labsync::apps::register_pack(app);
    labsync::apps::register_check_archive(app);
    labsync::apps::register_config(app);
    labsync::apps::register_run(app);
    labsync::apps::register_status(app);
    labsync::apps::register_admin(app);
    labsync::apps::register_doctor(app);
    CLI11_PARSE(app, argc, argv);
    return labsync::apps::command_exit_code;
}
