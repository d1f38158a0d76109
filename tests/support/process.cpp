#include "process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace labsync::test {
namespace {

using clock = std::chrono::steady_clock;

std::vector<std::string> merged_env(const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
        std::string kv(*e);
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : extra) env[k] = v;
    std::vector<std::string> out;
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

// fork+exec with stdin/stdout/stderr wired to the given fds; returns the pid.
int spawn(const std::vector<std::string>& argv, const process_options& options, int in_fd, int out_fd,
          int err_fd) {
    if (argv.empty()) throw std::invalid_argument("spawn: empty argv");
    auto env = merged_env(options.env);
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    std::string cwd = options.cwd ? options.cwd->string() : std::string();

    int pid = ::fork();
    if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::setpgid(0, 0);  // its own group, so a stop reaches its children too
        ::dup2(in_fd, 0);
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
        ::execvpe(cargv[0], cargv.data(), cenv.data());
        ::_exit(127);
    }
    return pid;
}

run_result decode(int status) {
    run_result r;
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

std::optional<int> wait_pid(int pid, std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    for (auto delay = std::chrono::milliseconds(1);; delay = std::min(delay * 2, std::chrono::milliseconds(50))) {
        int status = 0;
        int r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0) return std::nullopt;
        if (clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(delay);
    }
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

run_result run_process(const std::vector<std::string>& argv, const process_options& options) {
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) || ::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC))
        throw std::runtime_error("pipe2 failed");
    int pid = spawn(argv, options, in_pipe[0], out_pipe[1], err_pipe[1]);
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);

    std::string input = options.stdin_data.value_or("");
    std::size_t written = 0;
    if (input.empty()) {
        ::close(in_pipe[1]);
        in_pipe[1] = -1;
    } else {
        ::fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    }
    std::string out, err;
    auto deadline = clock::now() + options.timeout;
    bool out_open = true, err_open = true, killed = false;
    char buf[65536];
    while (out_open || err_open) {
        pollfd fds[3] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}, {in_pipe[1], POLLOUT, 0}};
        if (!out_open) fds[0].fd = -1;
        if (!err_open) fds[1].fd = -1;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0) {
            if (!killed) ::kill(-pid, SIGKILL), ::kill(pid, SIGKILL);
            killed = true;
            left = 1000;
        }
        ::poll(fds, 3, static_cast<int>(left));
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
                if (n > 0) (i == 0 ? out : err).append(buf, static_cast<std::size_t>(n));
                else if (n == 0 || errno != EINTR) (i == 0 ? out_open : err_open) = false;
            }
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = ::write(in_pipe[1], input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n < 0 || written == input.size()) {
                ::close(in_pipe[1]);
                in_pipe[1] = -1;
            }
        }
    }
    if (in_pipe[1] >= 0) ::close(in_pipe[1]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    auto status = wait_pid(pid, std::chrono::seconds(10));
    if (!status) {
        ::kill(pid, SIGKILL);
        status = wait_pid(pid, std::chrono::seconds(10));
    }
    run_result r = decode(status.value_or(0));
    r.out = std::move(out);
    r.err = std::move(err);
    return r;
}

child_process::child_process(const std::vector<std::string>& argv, const process_options& options) {
    int out_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC)) throw std::runtime_error("pipe2 failed");
    char tmpl[] = "/tmp/labsync-child-stderr-XXXXXX";
    int err_fd = ::mkostemp(tmpl, O_CLOEXEC);
    if (err_fd < 0) throw std::runtime_error("mkostemp failed");
    err_path_ = tmpl;
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_ = spawn(argv, options, null_fd, out_pipe[1], err_fd);
    ::close(null_fd);
    ::close(err_fd);
    ::close(out_pipe[1]);
    out_fd_ = out_pipe[0];
}

child_process::~child_process() {
    if (running()) {
        ::kill(-pid_, SIGKILL);
        ::kill(pid_, SIGKILL);
        wait(std::chrono::seconds(10));
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    std::error_code ec;
    std::filesystem::remove(err_path_, ec);
}

std::optional<std::string> child_process::wait_for_line(const std::string& needle,
                                                        std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    char buf[4096];
    for (;;) {
        for (std::size_t nl; (nl = out_.find('\n', consumed_)) != std::string::npos;) {
            std::string line = out_.substr(consumed_, nl - consumed_);
            consumed_ = nl + 1;
            if (line.find(needle) != std::string::npos) return line;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        if (left <= 0 || out_fd_ < 0) return std::nullopt;
        pollfd fd{out_fd_, POLLIN, 0};
        if (::poll(&fd, 1, static_cast<int>(left)) <= 0) continue;
        ssize_t n = ::read(out_fd_, buf, sizeof buf);
        if (n > 0) {
            out_.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0) {
            ::close(out_fd_);
            out_fd_ = -1;
        }
    }
}

bool child_process::running() {
    if (finished_ || pid_ < 0) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        finished_ = decode(status);
        return false;
    }
    return true;
}

std::optional<run_result> child_process::wait(std::chrono::milliseconds timeout) {
    if (!finished_ && pid_ > 0) {
        if (auto status = wait_pid(pid_, timeout)) finished_ = decode(*status);
    }
    if (finished_) finished_->err = stderr_text();
    return finished_;
}

std::optional<run_result> child_process::stop(int sig, std::chrono::milliseconds timeout) {
    if (running()) ::kill(pid_, sig);
    return wait(timeout);
}

std::string child_process::stderr_text() const { return slurp(err_path_); }

int free_tcp_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("bind 127.0.0.1:0 failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace labsync::test
