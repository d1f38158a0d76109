#include "labsync/engine/external_check.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace labsync::engine {
namespace {

constexpr std::size_t max_stdout = 1u << 20;
constexpr std::size_t max_stderr = 4096;

gate_finding hard(std::string code, std::string message) {
    return {severity::hard, std::move(code), std::move(message), {}};
}

std::string tail(const std::string& text) {
    std::string t = text.size() > 300 ? "..." + text.substr(text.size() - 300) : text;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    return t.empty() ? "" : fmt::format("; stderr: {}", t);
}

}  // namespace

std::vector<gate_finding> interpret_external_run(const std::vector<std::string>& argv,
                                                 const external_run& run, std::chrono::milliseconds timeout) {
    const std::string program = argv.empty() ? std::string("<empty>") : argv.front();
    if (!run.started)
        return {hard("external_not_started",
                     fmt::format("validator '{}' could not be started: {}", program, run.start_error))};
    if (run.timed_out)
        return {hard("external_timeout",
                     fmt::format("validator '{}' did not finish within {} ms and was killed{}", program,
                                 timeout.count(), tail(run.err)))};
    if (run.signal != 0)
        return {hard("external_crashed", fmt::format("validator '{}' was killed by signal {} ({}){}", program,
                                                     run.signal, ::strsignal(run.signal), tail(run.err)))};
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(run.out);
    } catch (const nlohmann::json::exception& e) {
        // Not only parse_error: a number too large for a double ("9E999") is out_of_range, and
        // an escaping exception would take the gate (and its worker) down instead of blocking.
        if (run.exit_code != 0)
            return {hard("external_failed",
                         fmt::format("validator '{}' exited with status {} without JSON findings{}", program,
                                     run.exit_code, tail(run.err)))};
        return {hard("external_bad_output",
                     fmt::format("validator '{}' printed output that is not JSON: {}", program, e.what()))};
    }
    const nlohmann::json* list = nullptr;
    if (j.is_array())
        list = &j;
    else if (j.is_object() && j.contains("findings") && j["findings"].is_array())
        list = &j["findings"];
    if (!list)
        return {hard("external_bad_output",
                     fmt::format("validator '{}' printed JSON without a \"findings\" array", program))};
    std::vector<gate_finding> out;
    std::size_t index = 0;
    for (const auto& item : *list) {
        const auto bad = [&](std::string_view why) {
            return hard("external_bad_output",
                        fmt::format("validator '{}': findings[{}] {}", program, index, why));
        };
        if (!item.is_object()) return {bad("is not an object")};
        const auto sev = item.find("severity");
        const auto code = item.find("code");
        if (sev == item.end() || !sev->is_string() || (*sev != "hard" && *sev != "soft"))
            return {bad("has no severity \"hard\" or \"soft\"")};
        if (code == item.end() || !code->is_string() || code->get<std::string>().empty())
            return {bad("has no non-empty string \"code\"")};
        gate_finding f;
        f.level = *sev == "hard" ? severity::hard : severity::soft;
        f.code = "external:" + code->get<std::string>();
        if (auto m = item.find("message"); m != item.end() && m->is_string())
            f.message = m->get<std::string>();
        if (auto p = item.find("path"); p != item.end() && p->is_string()) f.path = p->get<std::string>();
        out.push_back(std::move(f));
        ++index;
    }
    if (run.exit_code != 0 && !has_hard(out))
        out.push_back(hard("external_failed", fmt::format("validator '{}' exited with status {}{}", program,
                                                          run.exit_code, tail(run.err))));
    return out;
}

external_run run_external_command(const std::vector<std::string>& argv, const std::filesystem::path& run_path,
                                  std::chrono::milliseconds timeout) {
    external_run run;
    if (argv.empty()) {
        run.start_error = "empty argv";
        return run;
    }
    int out_pipe[2], err_pipe[2], exec_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0 ||
        ::pipe2(exec_pipe, O_CLOEXEC) != 0) {
        run.start_error = fmt::format("pipe: {}", std::strerror(errno));
        return run;
    }
    std::vector<std::string> args = argv;
    args.push_back(run_path.string());
    std::vector<char*> cargs;
    for (auto& a : args) cargs.push_back(a.data());
    cargs.push_back(nullptr);

    const pid_t pid = ::fork();
    if (pid < 0) {
        run.start_error = fmt::format("fork: {}", std::strerror(errno));
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], exec_pipe[0], exec_pipe[1]})
            ::close(fd);
        return run;
    }
    if (pid == 0) {
        ::setpgid(0, 0);
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        ::dup2(out_pipe[1], 1);
        ::dup2(err_pipe[1], 2);
        ::execvp(cargs[0], cargs.data());
        const int e = errno;
        [[maybe_unused]] auto n = ::write(exec_pipe[1], &e, sizeof e);
        ::_exit(127);
    }
    ::setpgid(pid, pid);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    ::close(exec_pipe[1]);
    int exec_errno = 0;
    if (::read(exec_pipe[0], &exec_errno, sizeof exec_errno) == static_cast<ssize_t>(sizeof exec_errno)) {
        ::close(exec_pipe[0]);
        ::close(out_pipe[0]);
        ::close(err_pipe[0]);
        int status = 0;
        ::waitpid(pid, &status, 0);
        run.start_error = fmt::format("exec: {}", std::strerror(exec_errno));
        return run;
    }
    ::close(exec_pipe[0]);
    run.started = true;

    const auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    int open_fds = 2;
    char buf[65536];
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            run.timed_out = true;
            break;
        }
        const int r = ::poll(fds, 2, static_cast<int>(std::min<std::int64_t>(left.count(), 1'000'000)));
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
                continue;
            }
            auto& target = i == 0 ? run.out : run.err;
            target.append(buf, static_cast<std::size_t>(n));
            if (i == 0 && target.size() > max_stdout) target.resize(max_stdout);
            if (i == 1 && target.size() > 2 * max_stderr) target.erase(0, target.size() - max_stderr);
        }
    }
    for (auto& p : fds)
        if (p.fd >= 0) ::close(p.fd);
    int status = 0;
    if (run.timed_out) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return run;
    }
    // The pipes closed; the program may still run (it closed its stdout): wait up to the deadline.
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) break;
        if (std::chrono::steady_clock::now() >= deadline) {
            run.timed_out = true;
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return run;
        }
        ::usleep(2000);
    }
    if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
    return run;
}

std::vector<gate_finding> run_external_check(const std::vector<std::string>& argv,
                                             const std::filesystem::path& run_path,
                                             std::chrono::milliseconds timeout) {
    return interpret_external_run(argv, run_external_command(argv, run_path, timeout), timeout);
}

}  // namespace labsync::engine
