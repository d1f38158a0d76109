#pragma once
// The optional external validator of the gate (SPEC §9): a program started by argv (no shell) with
// the run path appended, expected to print JSON findings on stdout within a timeout:
//   {"findings":[{"severity":"hard"|"soft","code":"...","message":"...","path":"..."}]}
// (a bare array is accepted too). Everything that goes wrong with the program is itself a hard
// finding with a message naming the program and what happened: not startable, killed by a signal,
// timed out (killed), non-zero exit without findings, output that is not that JSON.

#include "labsync/engine/gate_finding.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labsync::engine {

struct external_run {
    bool started = false;
    std::string start_error;  // why it could not be started
    bool timed_out = false;
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;
    std::string out;             // stdout (up to 1 MiB)
    bool out_truncated = false;  // stdout was longer: bad output
    std::string err;             // stderr tail (up to 1 MiB; messages quote its last 300 bytes)
};

// Pure: turns what the program did into findings.
std::vector<gate_finding> interpret_external_run(const std::vector<std::string>& argv,
                                                 const external_run& run, std::chrono::milliseconds timeout);

// Blocking: runs argv + run_path through transports::run_subprocess (own process group, empty
// signal mask, default dispositions, the daemon's environment), kills the whole process group
// (SIGKILL) after `timeout`.
external_run run_external_command(const std::vector<std::string>& argv, const std::filesystem::path& run_path,
                                  std::chrono::milliseconds timeout);

std::vector<gate_finding> run_external_check(const std::vector<std::string>& argv,
                                             const std::filesystem::path& run_path,
                                             std::chrono::milliseconds timeout);

}  // namespace labsync::engine
