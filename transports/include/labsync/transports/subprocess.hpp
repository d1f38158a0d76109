#pragma once
// Runs one external program (rsync, ssh, rclone) for a driver: argv vector (never a shell
// string), a clean minimal environment, the binary resolved on PATH before spawning (so "missing"
// is unambiguous and names the binary and the equipment), a timeout by cancellation that kills
// the child's whole process group, and bounded capture of stdout/stderr (the tails) with optional
// line callbacks for progress parsing.
//
// Implementation: posix_spawn with POSIX_SPAWN_SETPGROUP (the child leads its own process group),
// an empty signal mask and default signal dispositions in the child (whatever the daemon blocks or
// ignores), and a pidfd for the exit, all driven by asio::posix::stream_descriptor; Asio stays in
// the .cpp. The one way labsync starts a program (drivers and the gate's external validator).

#include "labsync/transports/subprocess_capture.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::transports {

struct subprocess_options {
    std::vector<std::string> argv;  // argv[0]: a name looked up on PATH, or a path with '/'
    std::string equipment;          // named in binary-missing messages
    // PATH for the lookup and the child; empty = this process's PATH (or /usr/local/bin:/usr/bin:/bin).
    std::string path_env;
    // Added to the minimal environment (PATH, HOME, LANG=C), replacing entries of the same name.
    std::map<std::string, std::string> env;
    // Start from this process's whole environment (PATH replaced by the lookup PATH) instead of
    // the minimal one: for programs the operator configures (the gate's external validator).
    bool inherit_environment = false;
    std::optional<std::filesystem::path> cwd;
    std::chrono::milliseconds timeout{0};   // 0 = no timeout
    std::size_t capture_limit = 64 * 1024;  // per stream, the tail is kept
    output_capture::line_fn on_stdout_line;
    output_capture::line_fn on_stderr_line;
};

struct subprocess_result {
    enum class outcome {
        exited,          // exit_code is valid
        signaled,        // killed by `signal` (not by us)
        timed_out,       // we killed the process group after options.timeout
        binary_missing,  // argv[0] not found / not executable; nothing was started
        spawn_failed,    // fork/exec machinery failed (message says why)
    };
    outcome status = outcome::spawn_failed;
    int exit_code = -1;
    int signal = 0;
    std::string stdout_tail;
    std::string stderr_tail;
    bool stdout_truncated = false;
    bool stderr_truncated = false;
    std::filesystem::path binary;  // the resolved program
    std::chrono::milliseconds elapsed{0};
    std::string message;  // one line for binary_missing / spawn_failed / timed_out

    bool success() const noexcept { return status == outcome::exited && exit_code == 0; }
};

std::string_view to_string(subprocess_result::outcome outcome) noexcept;

// The executable `name` on `path_env` (':'-separated), or `name` itself when it holds a '/'.
std::optional<std::filesystem::path> find_on_path(std::string_view name, std::string_view path_env);

// The PATH the helper uses when options.path_env is empty.
std::string default_path_env();

// Runs the program to completion on the calling coroutine's executor. Never throws for failures
// of the program; cancellation of the awaiting coroutine kills the process group too.
boost::asio::awaitable<subprocess_result> run_subprocess(subprocess_options options);

}  // namespace labsync::transports
