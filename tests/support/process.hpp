#pragma once
// Real child processes for component and integration tests: start by argv, read their output,
// stop them by PID. Every process a test starts is stopped by the destructor.

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace labsync::test {

struct run_result {
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;
    std::string out;
    std::string err;
};

struct process_options {
    std::map<std::string, std::string> env;  // added to (or replacing in) the inherited environment
    std::optional<std::filesystem::path> cwd;
    std::optional<std::string> stdin_data;   // for run_process only
    std::chrono::milliseconds timeout{60'000};
};

// Runs to completion and captures both streams; kills the child (SIGKILL) after the timeout.
run_result run_process(const std::vector<std::string>& argv, const process_options& options = {});

class child_process {
public:
    child_process(const std::vector<std::string>& argv, const process_options& options = {});
    ~child_process();  // SIGKILL + reap if still running
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    int pid() const noexcept { return pid_; }
    // Reads stdout until a line contains `needle`; returns that line, or nullopt on EOF/timeout.
    std::optional<std::string> wait_for_line(const std::string& needle,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Sends `sig` and waits up to `timeout` for exit; returns the wait status result.
    std::optional<run_result> stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    std::optional<run_result> wait(std::chrono::milliseconds timeout);
    bool running();
    // Everything read from stdout so far and whatever stderr holds (stderr goes to a file).
    const std::string& stdout_so_far() const noexcept { return out_; }
    std::string stderr_text() const;

private:
    int pid_ = -1;
    int out_fd_ = -1;
    std::string out_;
    std::size_t consumed_ = 0;
    std::filesystem::path err_path_;
    std::optional<run_result> finished_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (for servers that cannot take port 0,
// such as sshd). Prefer port 0 with the server printing its port wherever possible.
int free_tcp_port();

}  // namespace labsync::test
