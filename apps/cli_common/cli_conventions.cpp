// See cli_conventions.hpp.
#include "cli_conventions.hpp"

#include <fmt/format.h>

#include <cstdio>

namespace labsync::apps {

extern const char* const build_commit;  // build_info.cpp, generated at build time
extern const char* const build_date;

std::string version_line(std::string_view program) {
    return fmt::format("{} {} (commit {}, built {})", program, LABSYNC_VERSION, build_commit, build_date);
}

void add_cli_conventions(CLI::App& app, std::string_view program) {
    app.set_version_flag("--version", version_line(program));
    const std::string name(program);
    auto print_and_stop = [&app, name](bool man) {
        std::fputs((man ? man_page(app, name) : bash_completion(app, name)).c_str(), stdout);
        throw CLI::Success();
    };
    // Hidden (empty group): for the build, which writes them to files and installs them.
    app.add_flag_callback(
           "--man-page", [print_and_stop] { print_and_stop(true); }, "print the man page")
        ->group("")
        ->trigger_on_parse();
    app.add_flag_callback(
           "--bash-completion", [print_and_stop] { print_and_stop(false); }, "print the bash completion")
        ->group("")
        ->trigger_on_parse();
}

int parse_command_line(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);  // prints help, the version, or the error and a hint
        return code == static_cast<int>(CLI::ExitCodes::Success) ? 0 : exit_usage_error;
    }
    return -1;
}

}  // namespace labsync::apps
