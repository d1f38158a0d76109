// See doctor_checks.hpp.
#include "doctor/doctor_checks.hpp"

#include "labsync/common/secret_file.hpp"
#include "labsync/engine/gate.hpp"
#include "labsync/queue/job_store.hpp"
#include "labsync/verifier/run_walker.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace labsync::apps {
namespace {

namespace fs = std::filesystem;

bool find_in_path(const std::string& binary, std::string& where) {
    if (binary.find('/') != std::string::npos) {
        where = binary;
        return ::access(binary.c_str(), X_OK) == 0;
    }
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/bin:/bin";
    std::size_t start = 0;
    while (start <= p.size()) {
        std::size_t end = p.find(':', start);
        if (end == std::string::npos) end = p.size();
        std::string candidate = p.substr(start, end - start) + "/" + binary;
        if (::access(candidate.c_str(), X_OK) == 0) {
            where = candidate;
            return true;
        }
        start = end + 1;
    }
    return false;
}

std::string first_line(const std::string& text) {
    auto nl = text.find('\n');
    std::string line = text.substr(0, nl);
    return line.size() > 200 ? line.substr(0, 200) + "…" : line;
}

doctor_check check_state_dir(const fs::path& dir) {
    doctor_check c = make_check("state_dir", dir.string());
    std::error_code ec;
    fs::path existing = dir;
    while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
    if (existing != dir) {
        bool writable =
            !existing.empty() && fs::is_directory(existing, ec) && ::access(existing.c_str(), W_OK) == 0;
        c.ok = writable;
        c.detail = writable ? fmt::format("missing; syncd will create it below {}", existing.string())
                            : fmt::format("missing, and {} is not a writable directory", existing.string());
        c.hint = fmt::format("create it: install -d -o labsync -g labsync {}", dir.string());
        return c;
    }
    fs::path probe = dir / fmt::format(".doctor-{}", ::getpid());
    int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        c.ok = false;
        c.detail = fmt::format("not writable: {}", std::strerror(errno));
        c.hint = fmt::format("chown labsync: {} (the service user must own it)", dir.string());
        return c;
    }
    ::close(fd);
    ::unlink(probe.c_str());
    c.detail = "writable";
    return c;
}

doctor_check check_store(const fs::path& db) {
    doctor_check c = make_check("store", db.string());
    std::error_code ec;
    if (!fs::exists(db, ec)) {
        c.detail = "not created yet (first start creates it)";
        return c;
    }
    queue::store_options options;
    options.replay = false;  // inspect only: no lock, no replay, safe next to a running daemon
    auto store = queue::job_store::open(db, options);
    if (!store) {
        c.ok = false;
        c.detail = store.error().message;
        c.hint =
            "stop syncd, move the file aside (keep it for analysis) and restore jobs.db from a backup; "
            "see docs/operations.md, \"Job store damaged\"";
        return c;
    }
    auto counts = store->counts();
    std::int64_t total = 0;
    if (counts)
        for (const auto& [eq, by] : *counts)
            for (const auto& [s, n] : by) total += n;
    c.detail = fmt::format("opens cleanly, schema {}, {} jobs", store->replayed().schema_version, total);
    return c;
}

}  // namespace

std::optional<queue::job_store> open_store_to_inspect(const std::filesystem::path& db) {
    std::error_code ec;
    if (!fs::exists(db, ec)) return std::nullopt;
    queue::store_options options;
    options.replay = false;  // inspect only, safe next to a running daemon
    auto opened = queue::job_store::open(db, options);
    return opened ? std::optional(std::move(*opened)) : std::nullopt;
}

namespace {

// A run whose newest file is dated ahead of this host's clock waits, silently, until that moment
// plus settle: name each one (runs already shipped or in flight do not wait and are left out).
doctor_check check_future_mtimes(const engine::equipment_config& eq, const fs::path& db) {
    doctor_check c = make_check("future_mtime", fmt::format("{} ({})", eq.runs_root.string(), eq.name));
    const auto now = std::chrono::system_clock::now();
    auto store = open_store_to_inspect(db);
    std::error_code ec;
    std::vector<std::string> waiting;
    for (const auto& entry : fs::directory_iterator(eq.runs_root, ec)) {
        if (entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
        if (!fs::is_regular_file(fs::symlink_status(entry.path() / eq.marker_name, ec))) continue;
        const auto run = entry.path().filename().string();
        if (store)
            if (auto live = store->find_live(eq.name, run);
                live && *live && (*live)->state != queue::job_state::queued)
                continue;
        const auto newest = engine::newest_mtime(verifier::walk_run(entry.path()));
        if (newest <= now + std::chrono::seconds(1)) continue;
        const auto settle = std::chrono::duration_cast<std::chrono::system_clock::duration>(eq.settle);
        const auto settled_at =
            newest > std::chrono::system_clock::time_point::max() - settle ? newest : newest + settle;
        waiting.push_back(fmt::format("{}: {}", run, engine::describe_settle_wait(newest, settled_at, now)));
    }
    if (waiting.empty()) {
        c.detail = "no run with its marker is dated in the future";
        return c;
    }
    c.ok = false;
    for (const auto& w : waiting) c.detail += (c.detail.empty() ? "" : "; ") + w;
    c.hint =
        "a file's mtime is ahead of this host's clock (is the instrument's clock wrong?): fix the clock, or "
        "`touch` the run's future-dated files; a run ships `settle` after its newest mtime";
    return c;
}

doctor_check check_space(const fs::path& dir, std::uint64_t min_free) {
    doctor_check c = make_check("outbox_space", dir.string());
    std::error_code ec;
    fs::path existing = dir;
    while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
    auto space = fs::space(existing.empty() ? fs::path("/") : existing, ec);
    if (ec) {
        c.ok = false;
        c.detail = ec.message();
        c.hint = "check the filesystem of outbox_dir";
        return c;
    }
    c.ok = space.available >= min_free;
    c.detail = fmt::format("{:.1f} GiB free of {:.1f} GiB", space.available / 1073741824.0,
                           space.capacity / 1073741824.0);
    if (!c.ok)
        c.hint = "free space or point outbox_dir at a larger filesystem (http_put archives land there)";
    return c;
}

doctor_check check_binary(const std::string& equipment, const std::string& binary) {
    doctor_check c = make_check("binary", fmt::format("{} ({})", binary, equipment));
    std::string where;
    c.ok = find_in_path(binary, where);
    c.detail = c.ok ? where : "not found in PATH";
    if (!c.ok)
        c.hint = fmt::format("install it (apt-get install {}) or set the *_binary key of equipment {}",
                             fs::path(binary).filename().string(), equipment);
    return c;
}

doctor_check check_readable(const std::string& equipment, const char* key, const fs::path& file) {
    doctor_check c = make_check("file", fmt::format("{} {} ({})", key, file.string(), equipment));
    std::ifstream in(file);
    c.ok = static_cast<bool>(in);
    c.detail = c.ok ? "readable" : fmt::format("cannot read: {}", std::strerror(errno));
    if (!c.ok)
        c.hint = fmt::format("fix the path or permissions of {} in [equipment.{}.transport]", key, equipment);
    return c;
}

// Readable, and private to its owner like an ssh key: readable by group/others is a warning,
// writable by them a failure (common/secret_file.hpp).
doctor_check check_token_file(const std::string& equipment, const fs::path& file) {
    doctor_check c = check_readable(equipment, "token_file", file);
    if (!c.ok) return c;
    auto perms = common::check_secret_file(file, "token_file");
    if (perms.message.empty()) {
        if (!perms.error) c.detail = fmt::format("readable, mode {}", common::format_mode(perms.mode));
        return c;
    }
    c.ok = perms.exposure != common::secret_exposure::writable_by_others;
    c.warning = c.ok;
    c.detail = perms.message;
    c.hint = fmt::format("chmod 600 {} (and chown it to the user syncd runs as)", file.string());
    return c;
}

doctor_check check_http(const engine::equipment_config& eq, const doctor_options& options) {
    const auto& p = std::get<transports::http_put_config>(eq.transport);
    doctor_check c = make_check("destination", fmt::format("{} POST {}/v1/ping", eq.name, p.url));
    std::vector<std::string> argv{
        "curl",       "-sS",
        "-o",         "/dev/null",
        "-w",         "%{http_code}",
        "-X",         "POST",
        "--max-time", std::to_string(std::max<long>(1, options.network_timeout.count() / 1000))};
    if (!p.ca_file.empty()) argv.insert(argv.end(), {"--cacert", p.ca_file.string()});
    if (!p.client_cert.empty())
        argv.insert(argv.end(), {"--cert", p.client_cert.string(), "--key", p.client_key.string()});
    std::string headers;
    if (!p.token_file.empty()) {
        std::ifstream in(p.token_file);
        std::string token;
        std::getline(in, token);
        headers = "Authorization: Bearer " + token + "\n";
        argv.insert(argv.end(), {"-H", "@-"});  // the token goes through stdin, not argv (ps)
    }
    std::string url = p.url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    argv.push_back(url + "/v1/ping");
    command_result r = run_command(argv, headers, options.network_timeout + std::chrono::seconds(2));
    if (r.not_found) {
        c.ok = false;
        c.detail = "curl is not installed (doctor uses it for the ping)";
        c.hint = "apt-get install curl";
        return c;
    }
    std::string code = first_line(r.out);
    c.ok = r.exit_code == 0 && !code.empty() && code[0] == '2';
    if (c.ok) {
        c.detail = fmt::format("HTTP {}", code);
    } else if (code == "401" || code == "403") {
        c.detail = fmt::format("HTTP {}: the receiver refuses the token", code);
        c.hint = "check token_file against the receiver's --tokens file (and the equipment pattern)";
    } else if (r.exit_code != 0) {
        c.detail = first_line(r.err.empty() ? fmt::format("curl exit {}", r.exit_code) : r.err);
        c.hint =
            "is syncd-receiver running and reachable at url? (TLS: is ca_file the CA that signed its "
            "certificate?)";
    } else {
        c.detail = fmt::format("HTTP {}", code);
        c.hint = "the receiver answered but not with 2xx: check its log";
    }
    return c;
}

doctor_check check_ssh(const engine::equipment_config& eq, const doctor_options& options) {
    const auto& p = std::get<transports::rsync_ssh_config>(eq.transport);
    std::string target = p.user.empty() ? p.host : p.user + "@" + p.host;
    doctor_check c = make_check("destination", fmt::format("{} ssh {}", eq.name, target));
    std::vector<std::string> argv{
        p.ssh_binary,
        "-o",
        "BatchMode=yes",
        "-o",
        fmt::format("ConnectTimeout={}", std::max<long>(1, options.network_timeout.count() / 1000)),
        "-p",
        std::to_string(p.port)};
    if (!p.identity_file.empty()) argv.insert(argv.end(), {"-i", p.identity_file.string()});
    if (!p.known_hosts.empty())
        argv.insert(argv.end(), {"-o", "UserKnownHostsFile=" + p.known_hosts.string()});
    argv.insert(argv.end(), {target, "true"});
    command_result r = run_command(argv, "", options.network_timeout + std::chrono::seconds(2));
    c.ok = r.exit_code == 0;
    c.detail = c.ok ? "BatchMode login works" : first_line(r.err.empty() ? "ssh failed" : r.err);
    if (!c.ok)
        c.hint =
            "install the service user's public key on the remote and its host key in known_hosts "
            "(ssh-keyscan), then retry";
    return c;
}

doctor_check check_rclone(const engine::equipment_config& eq, const doctor_options& options) {
    const auto& p = std::get<transports::rclone_config>(eq.transport);
    doctor_check c = make_check("destination", fmt::format("{} rclone lsd {}", eq.name, p.remote));
    std::vector<std::string> argv{
        p.rclone_binary, "lsd", p.remote, "--contimeout",
        fmt::format("{}s", std::max<long>(1, options.network_timeout.count() / 1000))};
    if (!p.config_file.empty()) argv.insert(argv.end(), {"--config", p.config_file.string()});
    command_result r = run_command(argv, "", options.network_timeout * 3);
    c.ok = r.exit_code == 0;
    c.detail = c.ok ? "listing works" : first_line(r.err.empty() ? "rclone failed" : r.err);
    if (!c.ok) c.hint = "check the remote with `rclone config show` and its credentials";
    return c;
}

doctor_check check_clock() {
    doctor_check c = make_check("clock", "system clock");
    auto now = std::chrono::system_clock::now();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    // 2024-01-01 .. 2100-01-01: outside that the clock was never set (retention would misfire).
    c.ok = secs > 1'704'067'200 && secs < 4'102'444'800;
    timex tx{};
    int state = ::adjtimex(&tx);
    bool synced = state != TIME_ERROR && !(tx.status & STA_UNSYNC);
    c.detail = fmt::format("{}{}", c.ok ? "plausible" : "implausible date",
                           synced ? ", NTP synchronised" : ", not NTP synchronised");
    if (!c.ok) c.hint = "set the clock (timedatectl set-ntp true): retention and backoff use wall time";
    return c;
}

}  // namespace

command_result run_command(const std::vector<std::string>& argv, const std::string& stdin_data,
                           std::chrono::milliseconds timeout) {
    command_result r;
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return r;
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (!stdin_data.empty()) {
        [[maybe_unused]] auto n = ::write(in[1], stdin_data.data(), stdin_data.size());
    }
    ::close(in[1]);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    char buffer[4096];
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            r.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        if (::poll(fds, 2, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
            ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n <= 0) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            } else {
                (i == 0 ? r.out : r.err).append(buffer, static_cast<std::size_t>(n));
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) ::close(f.fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    r.not_found = r.exit_code == 127 && r.out.empty();
    if (r.timed_out) {
        r.exit_code = -1;
        r.err = fmt::format("no answer within {} s", timeout.count() / 1000);
    }
    return r;
}

std::vector<doctor_check> run_doctor_checks(const daemon_config& config, const doctor_options& options) {
    std::vector<doctor_check> checks;
    const auto& e = config.engine;
    checks.push_back(check_state_dir(e.state_dir));
    checks.push_back(check_store(e.state_dir / "jobs.db"));
    checks.push_back(check_space(e.outbox_dir, options.min_outbox_free));
    for (const auto& eq : e.equipment) {
        doctor_check root = make_check("runs_root", fmt::format("{} ({})", eq.runs_root.string(), eq.name));
        std::error_code ec;
        root.ok = fs::is_directory(eq.runs_root, ec) && ::access(eq.runs_root.c_str(), R_OK | X_OK) == 0;
        root.detail = root.ok ? "readable" : "missing or not readable";
        if (!root.ok) root.hint = "create it or fix runs_root; the instrument writes its runs there";
        checks.push_back(root);
        if (root.ok) checks.push_back(check_future_mtimes(eq, e.state_dir / "jobs.db"));
        if (root.ok) checks.push_back(check_unmarked_runs(eq, e.state_dir / "jobs.db"));
        switch (engine::kind_of(eq.transport)) {
            case engine::transport_kind::http_put: {
                const auto& p = std::get<transports::http_put_config>(eq.transport);
                if (!p.token_file.empty()) checks.push_back(check_token_file(eq.name, p.token_file));
                if (!p.ca_file.empty()) checks.push_back(check_readable(eq.name, "ca_file", p.ca_file));
                if (!p.client_cert.empty())
                    checks.push_back(check_readable(eq.name, "client_cert", p.client_cert));
                checks.push_back(check_http(eq, options));
                break;
            }
            case engine::transport_kind::rsync_ssh: {
                auto rsync =
                    check_binary(eq.name, std::get<transports::rsync_ssh_config>(eq.transport).rsync_binary);
                auto ssh =
                    check_binary(eq.name, std::get<transports::rsync_ssh_config>(eq.transport).ssh_binary);
                bool have_ssh = ssh.ok && rsync.ok;  // without both the transport cannot work anyway
                checks.push_back(rsync);
                checks.push_back(ssh);
                if (have_ssh) checks.push_back(check_ssh(eq, options));
                break;
            }
            case engine::transport_kind::rclone: {
                auto rclone =
                    check_binary(eq.name, std::get<transports::rclone_config>(eq.transport).rclone_binary);
                bool have = rclone.ok;
                checks.push_back(rclone);
                if (have) checks.push_back(check_rclone(eq, options));
                break;
            }
        }
    }
    checks.push_back(check_clock());
    return checks;
}

}  // namespace labsync::apps
