#pragma once
// Every syncd subcommand registers itself on the root CLI11 app. A subcommand's callback returns
// the process exit code through `exit_code` (see docs/operations.md, "Exit codes").

#include <CLI/CLI.hpp>

#include <filesystem>
#include <string>

namespace labsync::apps {

// 0 success · 1 the operation failed · 2 usage or configuration error · 3 verification mismatch
// · 4 the daemon is not reachable (admin commands)
enum exit_code : int {
    exit_ok = 0,
    exit_failed = 1,
    exit_usage = 2,
    exit_mismatch = 3,
    exit_unreachable = 4
};

// Set by the subcommand that ran.
inline int command_exit_code = exit_ok;

// `syncd manifest RUN_DIR [--json]` (cmd_manifest.cpp).
void register_manifest(CLI::App& app);

// `syncd put --url URL --equipment E [...] RUN_DIR` (cmd_put.cpp).
void register_put(CLI::App& app);

// `syncd pack RUN_DIR OUT.tar.zst [--level N] [--json]` (cmd_pack.cpp).
void register_pack(CLI::App& app);
// `syncd check-archive FILE [--json]` (cmd_check_archive.cpp).
void register_check_archive(CLI::App& app);

// `syncd config check FILE` / `syncd config default` (cmd_config.cpp).
void register_config(CLI::App& app);

// `syncd run` (cmd_run.cpp); `syncd status` (cmd_status.cpp); `syncd list|enqueue|retry|override|
// cancel|verify` (cmd_admin.cpp); `syncd doctor` (cmd_doctor.cpp).
void register_run(CLI::App& app);
void register_status(CLI::App& app);
void register_admin(CLI::App& app);
void register_doctor(CLI::App& app);

// `syncd enqueue --dry-run` (cmd_enqueue_dry_run.cpp): the gate and what would ship, nothing written.
int enqueue_dry_run(const std::filesystem::path& run, const std::string& config_path, bool json);

}  // namespace labsync::apps
