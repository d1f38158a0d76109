// See doctor_checks.hpp.
#include "doctor/doctor_checks.hpp"

#include "labsync/common/secret_file.hpp"
#include "labsync/engine/gate.hpp"
#include "labsync/queue/job_store.hpp"
#include "labsync/transports/subprocess.hpp"
#include "labsync/verifier/run_walker.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/timex.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace labsync::apps {
namespace {

namespace fs = std::filesystem;

bool as_other_user(const doctor_options& options) {
    return options.as.uid != ::geteuid();
}

// Who should own what, in hints: the --as-user user, else the service user of the shipped unit.
std::string service_user(const doctor_options& options) {
    return as_other_user(options) ? options.as.name : "labsync";
}

doctor_check check_state_dir(const fs::path& dir, const doctor_options& options) {
    doctor_check c = make_check("state_dir", dir.string());
    std::error_code ec;
    fs::path existing = dir;
    while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
    const auto refusal = [&](const fs::path& p) {
        return as_other_user(options)           ? access_refusal(options.as, p, need_write | need_search)
               : ::access(p.c_str(), W_OK) == 0 ? std::string()
                                                : fmt::format("{}: {}", p.string(), std::strerror(errno));
    };
    if (existing != dir) {
        bool writable = !existing.empty() && fs::is_directory(existing, ec) && refusal(existing).empty();
        c.ok = writable;
        c.detail = writable ? fmt::format("missing; syncd will create it below {}", existing.string())
                            : fmt::format("missing, and {} is not a writable directory", existing.string());
        c.hint = fmt::format("create it: install -d -o {} -g {} {}", service_user(options),
                             service_user(options), dir.string());
        return c;
    }
    if (as_other_user(options)) {
        c.detail = refusal(dir);
        c.ok = c.detail.empty();
        if (c.ok) c.detail = fmt::format("writable by {}", options.as.name);
        c.hint = fmt::format("chown {} {} (the service user must own it)", options.as.name, dir.string());
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
    auto where = transports::find_on_path(binary, transports::default_path_env());
    c.ok = where.has_value();
    c.detail = c.ok ? where->string() : "not found in PATH";
    if (!c.ok)
        c.hint = fmt::format("install it (apt-get install {}) or set the *_binary key of equipment {}",
                             fs::path(binary).filename().string(), equipment);
    return c;
}

doctor_check check_readable(const std::string& equipment, const char* key, const fs::path& file,
                            const doctor_options& options) {
    doctor_check c = make_check("file", fmt::format("{} {} ({})", key, file.string(), equipment));
    if (as_other_user(options)) {
        const std::string refused = access_refusal(options.as, file, need_read);
        c.ok = refused.empty();
        c.detail = c.ok ? fmt::format("readable by {}", options.as.name) : "not readable: " + refused;
    } else {
        std::ifstream in(file);
        c.ok = static_cast<bool>(in);
        c.detail = c.ok ? "readable" : fmt::format("cannot read: {}", std::strerror(errno));
    }
    if (!c.ok)
        c.hint =
            fmt::format("fix the path of {} in [equipment.{}.transport], or let {} read it (chown {} {})",
                        key, equipment, service_user(options), service_user(options), file.string());
    return c;
}

// Readable, and private to its owner like an ssh key: readable by group/others is a warning,
// writable by them a failure (common/secret_file.hpp).
doctor_check check_token_file(const std::string& equipment, const fs::path& file,
                              const doctor_options& options) {
    doctor_check c = check_readable(equipment, "token_file", file, options);
    if (!c.ok) return c;
    auto perms = common::check_secret_file(file, "token_file");
    if (perms.message.empty()) {
        if (!perms.error) c.detail += fmt::format(", mode {}", common::format_mode(perms.mode));
        return c;
    }
    c.ok = perms.exposure != common::secret_exposure::writable_by_others;
    c.warning = c.ok;
    c.detail = perms.message;
    c.hint = fmt::format("chmod 600 {} (and chown it to the user syncd runs as)", file.string());
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

std::vector<doctor_check> run_doctor_checks(const daemon_config& config, const doctor_options& options) {
    std::vector<doctor_check> checks;
    const auto& e = config.engine;
    doctor_check user = make_check("user", options.as.name);
    user.detail = fmt::format("file access checked as {}", describe(options.as));
    if (!as_other_user(options) && options.as.uid == 0)
        user.detail += "; syncd runs as its service user: add --as-user labsync to check as that user";
    checks.push_back(user);
    checks.push_back(check_state_dir(e.state_dir, options));
    checks.push_back(check_store(e.state_dir / "jobs.db"));
    checks.push_back(check_space(e.outbox_dir, options.min_outbox_free));
    for (const auto& eq : e.equipment) {
        doctor_check root = make_check("runs_root", fmt::format("{} ({})", eq.runs_root.string(), eq.name));
        std::error_code ec;
        const std::string refused = as_other_user(options)
                                        ? access_refusal(options.as, eq.runs_root, need_read | need_search)
                                        : std::string();
        root.ok = fs::is_directory(eq.runs_root, ec) && refused.empty() &&
                  ::access(eq.runs_root.c_str(), R_OK | X_OK) == 0;
        root.detail = root.ok ? "readable" : refused.empty() ? "missing or not readable" : refused;
        if (!root.ok) root.hint = "create it or fix runs_root; the instrument writes its runs there";
        checks.push_back(root);
        if (root.ok) checks.push_back(check_future_mtimes(eq, e.state_dir / "jobs.db"));
        if (root.ok) checks.push_back(check_unmarked_runs(eq, e.state_dir / "jobs.db"));
        switch (engine::kind_of(eq.transport)) {
            case engine::transport_kind::http_put: {
                const auto& p = std::get<transports::http_put_config>(eq.transport);
                if (!p.token_file.empty()) checks.push_back(check_token_file(eq.name, p.token_file, options));
                if (!p.ca_file.empty())
                    checks.push_back(check_readable(eq.name, "ca_file", p.ca_file, options));
                if (!p.client_cert.empty())
                    checks.push_back(check_readable(eq.name, "client_cert", p.client_cert, options));
                checks.push_back(check_destination(eq, options));
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
                if (have_ssh) checks.push_back(check_destination(eq, options));
                break;
            }
            case engine::transport_kind::rclone: {
                auto rclone =
                    check_binary(eq.name, std::get<transports::rclone_config>(eq.transport).rclone_binary);
                bool have = rclone.ok;
                checks.push_back(rclone);
                if (have) checks.push_back(check_destination(eq, options));
                break;
            }
        }
    }
    checks.push_back(check_clock());
    return checks;
}

}  // namespace labsync::apps
