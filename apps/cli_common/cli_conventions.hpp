#pragma once
// Command-line conventions shared by syncd and syncd-receiver (docs/operations.md, "Exit codes"):
//   - usage errors (unknown option, missing argument, bad value) exit 2, not CLI11's 105–109;
//   - `--version` prints "PROGRAM VERSION (commit C, built YYYY-MM-DD)", the commit and date
//     generated at build time (build_info.cmake);
//   - hidden `--man-page` and `--bash-completion` print the man page and the bash completion
//     script generated from the CLI11 definition (cli_docs.cpp; the build writes and installs both).

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace labsync::apps {

inline constexpr int exit_usage_error = 2;

// "syncd 0.1.0 (commit 4b3d17e0c1a2, built 2026-12-02)"
std::string version_line(std::string_view program);

// Adds --version, --man-page and --bash-completion to the root app. `program` names the binary.
void add_cli_conventions(CLI::App& app, std::string_view program);

// Parses; on a parse error or an informational flag (--help, --version, --man-page), prints what
// CLI11 prints and returns the exit code (0 for help and version, 2 for usage errors). Returns
// -1 when the program should go on.
int parse_command_line(CLI::App& app, int argc, char** argv);

// The man page (roff, section 1) and the bash completion script of `app` (cli_docs.cpp).
std::string man_page(const CLI::App& app, std::string_view program);
std::string bash_completion(const CLI::App& app, std::string_view program);

}  // namespace labsync::apps
