// rsync_ssh: rsync into staging (prepared by --rsync-path) → rename into place (ssh); probe = remote
// sha256sum over the shared master connection. See rsync_ssh.hpp.
#include "labsync/transports/rsync_ssh.hpp"

#include "labsync/transports/classify_rsync.hpp"
#include "labsync/transports/rsync_ssh_commands.hpp"
#include "labsync/transports/subprocess.hpp"

#include "driver_steps.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "rate_watch.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <random>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

extern char** environ;

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;

namespace labsync::transports {

struct rsync_ssh::ssh_outcome {
    transport_result status;
    std::string stdout_text;
};

namespace {

std::string last_line(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
    const std::size_t nl = text.find_last_of("\r\n");
    return std::string(nl == std::string_view::npos ? text : text.substr(nl + 1));
}

// The stderr line that explains a failure: the first one a classification row matches (ssh's
// "Connection refused" rather than rsync's closing summary), else the last one.
std::string reason_line(std::string_view text) {
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find_first_of("\r\n", start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(start, end - start);
        if (match_patterns(ssh_stderr_table(), line) || match_patterns(rsync_stderr_table(), line))
            return std::string(line);
        start = end + 1;
    }
    return last_line(text);
}

// A subprocess that did not run to an exit code (missing, timed out, …) as a transport_result.
transport_result not_exited(const subprocess_result& r) {
    using o = subprocess_result::outcome;
    error_kind kind = error_kind::unknown;
    if (r.status == o::binary_missing) kind = error_kind::binary_missing;
    if (r.status == o::timed_out) kind = error_kind::network;
    auto out = transport_result::failure(kind, r.message, r.exit_code);
    out.stdout_text = r.stdout_tail;
    out.stderr_text = r.stderr_tail;
    return out;
}

// Blocking ssh -O exit for the destructor: bounded by ssh itself (the socket is local).
void stop_master(std::vector<std::string> argv, const rsync_ssh_config& config) {
    argv.insert(argv.end(), {"-O", "exit", "-l", config.user, config.host});
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    if (::posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ) == 0) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    posix_spawn_file_actions_destroy(&actions);
}

}  // namespace

std::unique_ptr<rsync_ssh> rsync_ssh::create(rsync_ssh_config config, asio::any_io_executor cpu,
                                             std::string* why) {
    auto fail = [&](std::string text) -> std::unique_ptr<rsync_ssh> {
        if (why) *why = "rsync_ssh: " + std::move(text);
        return nullptr;
    };
    if (auto problems = config.validate(); !problems.empty()) return fail(describe(problems));
    bool own = false;
    if (config.control_dir.empty()) {
        std::string pattern = "/tmp/labsync-ssh-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr)
            return fail("cannot create a control directory under /tmp: " + std::string(std::strerror(errno)));
        config.control_dir = pattern;
        own = true;
    } else {
        std::error_code ec;
        fs::create_directories(config.control_dir, ec);
        if (ec) return fail("cannot create control_dir " + config.control_dir.string() + ": " + ec.message());
        ::chmod(config.control_dir.c_str(), 0700);
    }
    // ControlPath "<dir>/%C" expands to 40 hex characters; a Unix socket path holds 107 bytes.
    if (config.control_dir.string().size() > 60)
        return fail("control_dir " + config.control_dir.string() + " is too long for a Unix socket path");
    return std::unique_ptr<rsync_ssh>(new rsync_ssh(std::move(config), std::move(cpu), own));
}

rsync_ssh::rsync_ssh(rsync_ssh_config config, asio::any_io_executor cpu, bool own_control_dir)
    : config_(std::move(config)), cpu_(std::move(cpu)), own_control_dir_(own_control_dir) {}

rsync_ssh::~rsync_ssh() {
    const std::string path = config_.path_env.empty() ? default_path_env() : config_.path_env;
    if (auto ssh = find_on_path(config_.ssh_binary, path)) {
        struct stat st {};
        // Only when a master socket exists: otherwise ssh -O exit would try to connect.
        bool any = false;
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(config_.control_dir, ec))
            any = any || (::lstat(e.path().c_str(), &st) == 0 && S_ISSOCK(st.st_mode));
        if (any) stop_master(ssh_options_argv(config_, ssh->string(), config_.control_dir.string()), config_);
    }
    if (own_control_dir_) {
        std::error_code ec;
        fs::remove_all(config_.control_dir, ec);
    }
}

asio::awaitable<rsync_ssh::ssh_outcome> rsync_ssh::run_ssh(const std::string& command,
                                                           const std::string& equipment) {
    subprocess_options o;
    o.equipment = equipment;
    o.path_env = config_.path_env;
    o.timeout = config_.command_timeout;
    o.argv = ssh_base_argv(config_, config_.ssh_binary, config_.control_dir.string());
    o.argv.push_back(command);
    // stdout carries manifests: keep enough for large runs (about 100 bytes per file).
    o.capture_limit = 256u << 20;
    auto r = co_await run_subprocess(std::move(o));
    ssh_outcome out;
    if (r.status != subprocess_result::outcome::exited) {
        out.status = not_exited(r);
        co_return out;
    }
    const error_kind kind = classify_ssh(r.exit_code, r.stderr_tail);
    out.status = kind == error_kind::none
                     ? transport_result::success(0)
                     : transport_result::failure(
                           kind,
                           fmt::format("ssh {}@{}:{} failed (exit {}): {}", config_.user, config_.host,
                                       config_.port, r.exit_code, reason_line(r.stderr_tail)),
                           r.exit_code);
    out.status.stderr_text = r.stderr_tail.substr(0, std::min<std::size_t>(r.stderr_tail.size(), 64 * 1024));
    out.stdout_text = std::move(r.stdout_tail);
    co_return out;
}

probe_result rsync_ssh::parse_manifest_output(std::string_view text, const std::string& dir) const {
    probe_result result;
    auto marked = split_marker(text);
    if (!marked || (marked->marker != "present" && marked->marker != "absent")) {
        result.status = transport_result::failure(
            error_kind::unknown, "remote manifest of " + dir + ": unexpected output from the remote shell");
        return result;
    }
    result.status = transport_result::success();
    if (marked->marker == "absent") return result;
    std::error_code ec;
    std::string why;
    auto m = verifier::manifest::parse_sha256sum(marked->rest, ec, &why);
    if (ec) {
        result.status =
            transport_result::failure(error_kind::unknown, "remote manifest of " + dir + ": " + why);
        return result;
    }
    result.present = true;
    result.remote_manifest = std::move(m);
    return result;
}

asio::awaitable<probe_result> rsync_ssh::remote_manifest(const std::string& dir,
                                                         const std::string& equipment) {
    auto out = co_await run_ssh(manifest_command(dir), equipment);
    if (!out.status.ok) {
        probe_result result;
        result.status = std::move(out.status);
        co_return result;
    }
    co_return parse_manifest_output(out.stdout_text, dir);
}

asio::awaitable<transport_result> rsync_ssh::judge_existing(const push_request& request,
                                                            const std::string& dir) {
    auto remote = co_await remote_manifest(dir, request.equipment);
    if (!remote.status.ok) co_return remote.status;
    co_return co_await detail::judge_against_local(request, remote, dir, cpu_,
                                                   fmt::format("{}:{} already holds a different run at {} "
                                                               "(local data kept untouched)",
                                                               config_.host, config_.port, dir));
}

asio::awaitable<transport_result> rsync_ssh::transfer(const push_request& request, const remote_paths& paths,
                                                      std::uint64_t& moved) {
    const std::string path = config_.path_env.empty() ? default_path_env() : config_.path_env;
    // rsync starts ssh by itself: resolve it here so a missing ssh is as clear as a missing rsync.
    auto ssh = find_on_path(config_.ssh_binary, path);
    if (!ssh)
        co_return transport_result::failure(error_kind::binary_missing,
                                            "binary '" + config_.ssh_binary + "' not found on PATH (" + path +
                                                ") for equipment '" + request.equipment + "'");
    auto rsh = rsync_rsh_string(ssh_options_argv(config_, ssh->string(), config_.control_dir.string()));
    if (!rsh)
        co_return transport_result::failure(
            error_kind::unknown, "identity_file, known_hosts or control_dir contains a quote character");
    const std::uint64_t known_total = request.local_manifest ? request.local_manifest->total_bytes() : 0;
    // rsync cannot change its --bwlimit while it runs: when this transfer's share of the budget
    // changes, it is stopped and restarted with the new one. --partial keeps an interrupted
    // file; the restart appends to it (--append-verify: the whole file's checksum is checked
    // and a mismatch resent) and skips the files already complete, so nothing is sent twice.
    auto lease = request.limiter ? request.limiter->begin_transfer() : nullptr;
    detail::rate_watch watch(co_await asio::this_coro::executor, lease.get());
    for (bool resume = false;; resume = true) {
        const std::uint64_t rate = watch.rate();
        subprocess_options o;
        o.equipment = request.equipment;
        o.path_env = config_.path_env;
        o.timeout = config_.transfer_timeout;
        o.argv = {config_.rsync_binary,
                  "--recursive",
                  "--times",
                  "--partial",
                  "--info=progress2",
                  "--no-inc-recursive",
                  "-e",
                  *rsh,
                  "--rsync-path=" + rsync_path_command(paths, request.run_id, resume)};
        if (resume) o.argv.push_back("--append-verify");
        if (rate > 0) o.argv.push_back(rsync_bwlimit_arg(rate));
        for (const auto& a : config_.extra_rsync_args) o.argv.push_back(a);
        o.argv.push_back(request.run_path.string() + "/");
        o.argv.push_back(config_.user + "@" + config_.host + ":" + paths.staging_dir + "/");
        // progress2 counts from 0 in each (re)started rsync: add up what each one sent.
        const std::uint64_t before = moved;
        o.on_stdout_line = [cb = request.on_progress, known_total, &moved, before](std::string_view line) {
            if (auto p = parse_progress2(line)) {
                moved = before + p->bytes;
                std::uint64_t total = known_total;
                if (total == 0 && p->percent > 0)
                    total = p->bytes * 100 / static_cast<std::uint64_t>(p->percent);
                if (cb) cb(p->bytes, total);
            }
        };
        o.capture_limit = 64 * 1024;
        auto raced = co_await (run_subprocess(std::move(o)) ||
                               watch.changed(rate, std::chrono::milliseconds(250), &rsync_restart_worth));
        if (raced.index() == 1) continue;  // the share changed: restart from the partial state
        auto& r = std::get<0>(raced);
        if (r.status != subprocess_result::outcome::exited) co_return not_exited(r);
        const error_kind kind = classify_rsync(r.exit_code, r.stderr_tail);
        if (kind == error_kind::none) co_return transport_result::success();
        auto out = transport_result::failure(
            kind,
            fmt::format("rsync to {}:{} failed (exit {}: {}): {}", config_.host, config_.port, r.exit_code,
                        rsync_exit_meaning(r.exit_code), reason_line(r.stderr_tail)),
            r.exit_code);
        out.stdout_text = std::move(r.stdout_tail);
        out.stderr_text = std::move(r.stderr_tail);
        co_return out;
    }
}

asio::awaitable<push_result> rsync_ssh::push(const push_request& request) {
    if (auto refused = detail::check_push_request(request))
        co_return push_result::failed(std::move(*refused));
    const auto paths =
        make_remote_paths(config_.dest, request.equipment, request.run_id, make_staging_nonce());

    push_result out;
    out.status = co_await transfer(request, paths, out.bytes_moved);
    if (!out.status.ok && out.status.stderr_text.find("labsync:exists") != std::string::npos) {
        out.status = co_await judge_existing(request, paths.final_dir);
        co_return out;
    }
    if (!out.status.ok) co_return out;

    auto moved = co_await run_ssh(finalize_command(paths, config_.remote_sync), request.equipment);
    if (!moved.status.ok) {
        out.status = std::move(moved.status);
        co_return out;
    }
    auto marker = split_marker(moved.stdout_text);
    if (marker && marker->marker == "moved") {
        // The manifest computed right after the rename is this push's proof (no cache: a later
        // probe always hashes the remote files again).
        auto proof = parse_manifest_output(marker->rest, paths.final_dir);
        if (proof.status.ok && proof.present) out.evidence = static_cast<remote_evidence>(std::move(proof));
        co_return out;
    }
    if (marker && marker->marker == "exists") {
        // Someone stored this run between our check and our rename: judge it, drop our copy.
        out.status = co_await judge_existing(request, paths.final_dir);
        co_await run_ssh(remove_command(paths.staging_dir), request.equipment);
        co_return out;
    }
    out.status = transport_result::failure(error_kind::unknown,
                                           "move into place on " + config_.host + ": unexpected output");
    co_return out;
}

asio::awaitable<probe_result> rsync_ssh::probe(const push_request& request) {
    if (auto refused = detail::check_probe_request(request)) co_return std::move(*refused);
    // Always the remote files hashed now: this probe gates deletion (cleanup, `syncd verify`).
    const auto paths = make_remote_paths(config_.dest, request.equipment, request.run_id, "");
    co_return co_await remote_manifest(paths.final_dir, request.equipment);
}

}  // namespace labsync::transports
