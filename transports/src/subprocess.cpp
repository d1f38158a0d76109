// run_subprocess: posix_spawn into a fresh process group, pipes and a pidfd on Asio descriptors.
//
// Why not Boost.Process v2 (1.81): its launcher has no process-group option, a custom
// initializer would have to run between fork and exec (no posix_spawn fast path), and it has no
// pidfd-based exit wait, so timeouts could only kill the direct child and not rsync's ssh or
// rclone's helpers. posix_spawn + POSIX_SPAWN_SETPGROUP gives both in a few lines.
#include "labsync/transports/subprocess.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

// GCC 12 false positive on Asio coroutine frames (GCC bug 109224), as in http_put.cpp.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

extern char** environ;

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;

namespace labsync::transports {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct fd_closer {
    int fd = -1;
    ~fd_closer() {
        if (fd >= 0) ::close(fd);
    }
    int release() noexcept { return std::exchange(fd, -1); }
};

bool executable_file(const fs::path& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
}

std::vector<std::string> build_environment(const subprocess_options& options, const std::string& path) {
    std::map<std::string, std::string> env;
    if (options.inherit_environment) {
        for (char** e = environ; e && *e; ++e) {
            const std::string_view entry(*e);
            const auto eq = entry.find('=');
            if (eq != std::string_view::npos && eq > 0)
                env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
    } else {
        const char* home = std::getenv("HOME");
        env["HOME"] = home && *home ? home : "/";
        env["LANG"] = "C";
    }
    env["PATH"] = path;
    for (const auto& [k, v] : options.env) env[k] = v;
    std::vector<std::string> out;
    out.reserve(env.size());
    for (const auto& [k, v] : env) out.push_back(k + "=" + v);
    return out;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
    std::vector<char*> out;
    out.reserve(v.size() + 1);
    for (auto& s : v) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// Reads a pipe to EOF into `capture`. Errors other than EOF end the read too: the exit status
// is what matters, the capture is diagnostics.
asio::awaitable<void> drain(asio::posix::stream_descriptor& pipe, output_capture& capture) {
    std::array<char, 16384> buf{};
    for (;;) {
        auto [ec, n] = co_await pipe.async_read_some(asio::buffer(buf), use_tuple);
        if (n > 0) capture.feed(std::string_view(buf.data(), n));
        if (ec) break;
    }
    capture.finish();
}

asio::awaitable<void> wait_exit(asio::posix::stream_descriptor& pidfd) {
    auto [ec] = co_await pidfd.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    (void)ec;
}

asio::awaitable<void> read_all_and_wait(asio::posix::stream_descriptor& out, output_capture& out_cap,
                                        asio::posix::stream_descriptor& err, output_capture& err_cap,
                                        asio::posix::stream_descriptor& pidfd) {
    co_await (drain(out, out_cap) && drain(err, err_cap) && wait_exit(pidfd));
}

asio::awaitable<bool> expire(asio::steady_timer& timer) {
    auto [ec] = co_await timer.async_wait(use_tuple);
    co_return !ec;
}

// Kills the group and reaps the leader. Blocking waitpid is bounded: SIGKILL cannot be ignored.
void kill_group_and_reap(pid_t pid, int* status) {
    ::kill(-pid, SIGKILL);
    while (::waitpid(pid, status, 0) < 0 && errno == EINTR) {
    }
}

}  // namespace

std::string_view to_string(subprocess_result::outcome outcome) noexcept {
    switch (outcome) {
        case subprocess_result::outcome::exited:
            return "exited";
        case subprocess_result::outcome::signaled:
            return "signaled";
        case subprocess_result::outcome::timed_out:
            return "timed_out";
        case subprocess_result::outcome::binary_missing:
            return "binary_missing";
        case subprocess_result::outcome::spawn_failed:
            return "spawn_failed";
    }
    return "spawn_failed";
}

std::string default_path_env() {
    const char* path = std::getenv("PATH");
    return path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
}

std::optional<fs::path> find_on_path(std::string_view name, std::string_view path_env) {
    if (name.empty()) return std::nullopt;
    if (name.find('/') != std::string_view::npos) {
        fs::path p(name);
        return executable_file(p) ? std::optional<fs::path>(p) : std::nullopt;
    }
    std::size_t start = 0;
    while (start <= path_env.size()) {
        std::size_t end = path_env.find(':', start);
        if (end == std::string_view::npos) end = path_env.size();
        std::string_view dir = path_env.substr(start, end - start);
        // An empty PATH element means the current directory; we never search it.
        if (!dir.empty()) {
            fs::path candidate = fs::path(dir) / name;
            if (executable_file(candidate)) return candidate;
        }
        start = end + 1;
    }
    return std::nullopt;
}

asio::awaitable<subprocess_result> run_subprocess(subprocess_options options) {
    subprocess_result result;
    const auto started = std::chrono::steady_clock::now();
    auto finish = [&]() -> subprocess_result {
        result.elapsed =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        return std::move(result);
    };
    if (options.argv.empty()) {
        result.message = "no program given";
        co_return finish();
    }
    const std::string path = options.path_env.empty() ? default_path_env() : options.path_env;
    auto binary = find_on_path(options.argv[0], path);
    if (!binary) {
        result.status = subprocess_result::outcome::binary_missing;
        result.message = "binary '" + options.argv[0] + "' not found on PATH (" + path + ")" +
                         (options.equipment.empty() ? "" : " for equipment '" + options.equipment + "'");
        co_return finish();
    }
    result.binary = *binary;

    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
        result.message = std::string("pipe: ") + std::strerror(errno);
        co_return finish();
    }
    fd_closer out_r{out_pipe[0]}, out_w{out_pipe[1]};
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        result.message = std::string("pipe: ") + std::strerror(errno);
        co_return finish();
    }
    fd_closer err_r{err_pipe[0]}, err_w{err_pipe[1]};

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_w.fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_w.fd, 2);
    if (options.cwd) posix_spawn_file_actions_addchdir_np(&actions, options.cwd->c_str());
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Own process group (so a timeout can kill ssh and every helper with one kill(-pgid)),
    // default signal dispositions and an empty mask whatever the daemon set for itself.
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);

    std::vector<std::string> argv_storage = options.argv;
    std::vector<std::string> env_storage = build_environment(options, path);
    auto argv = c_strings(argv_storage);
    auto envp = c_strings(env_storage);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, binary->c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        result.status = rc == ENOENT || rc == EACCES ? subprocess_result::outcome::binary_missing
                                                     : subprocess_result::outcome::spawn_failed;
        result.message = "cannot start " + binary->string() + ": " + std::strerror(rc) +
                         (options.equipment.empty() ? "" : " (equipment '" + options.equipment + "')");
        co_return finish();
    }
    // Only the child keeps the write ends, so EOF on our side means every writer is gone.
    ::close(out_w.release());
    ::close(err_w.release());

    int status = 0;
    const int pidfd_raw = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd_raw < 0) {
        // Kernels before 5.3: nothing to await the exit on; treat as a machinery failure.
        result.message = std::string("pidfd_open: ") + std::strerror(errno);
        kill_group_and_reap(pid, &status);
        co_return finish();
    }
    auto ex = co_await asio::this_coro::executor;
    asio::posix::stream_descriptor out(ex, out_r.release()), err(ex, err_r.release()), pidfd(ex, pidfd_raw);
    output_capture out_cap(options.capture_limit, std::move(options.on_stdout_line));
    output_capture err_cap(options.capture_limit, std::move(options.on_stderr_line));

    bool timed_out = false;
    bool reaped = false;
    try {
        if (options.timeout.count() > 0) {
            asio::steady_timer timer(ex, options.timeout);
            auto first = co_await (read_all_and_wait(out, out_cap, err, err_cap, pidfd) || expire(timer));
            timed_out = first.index() == 1 && std::get<1>(first);
        } else {
            co_await read_all_and_wait(out, out_cap, err, err_cap, pidfd);
        }
    } catch (...) {
        // Our caller was cancelled (or the executor is going away): take the children with us.
        kill_group_and_reap(pid, &status);
        throw;
    }
    // A cancellation that reached the reads completes them quietly (as_tuple) instead of
    // throwing: the child may still run, so kill its group rather than wait for it.
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) {
        kill_group_and_reap(pid, &status);
        throw boost::system::system_error(asio::error::operation_aborted, "run_subprocess cancelled");
    }
    if (timed_out) {
        kill_group_and_reap(pid, &status);
        reaped = true;
        result.status = subprocess_result::outcome::timed_out;
        result.message = binary->filename().string() + " did not finish within " +
                         std::to_string(options.timeout.count()) + " ms; its process group was killed";
    }
    if (!reaped) {
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (WIFEXITED(status)) {
            result.status = subprocess_result::outcome::exited;
            result.exit_code = WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
            result.status = subprocess_result::outcome::signaled;
            result.signal = WTERMSIG(status);
            result.message =
                binary->filename().string() + " was killed by signal " + std::to_string(result.signal);
        }
    } else if (WIFSIGNALED(status)) {
        result.signal = WTERMSIG(status);
    }
    result.stdout_tail = out_cap.tail();
    result.stderr_tail = err_cap.tail();
    result.stdout_truncated = out_cap.truncated();
    result.stderr_truncated = err_cap.truncated();
    co_return finish();
}

}  // namespace labsync::transports
