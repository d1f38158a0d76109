// rclone: existence check → sync into staging → move into place; probe = SHA-256 listing, all
// over the remote control of one `rclone rcd` (rclone_daemon). Decisions live in rclone_rc
// (bodies, parsing), rclone_commands (argv) and classify_rclone (exit codes, messages).
#include "labsync/transports/rclone.hpp"

#include "labsync/transports/classify_rclone.hpp"
#include "labsync/transports/rclone_commands.hpp"
#include "labsync/transports/rclone_rc.hpp"
#include "labsync/transports/subprocess.hpp"

#include "driver_steps.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "rate_watch.hpp"
#include "rclone_daemon.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;

namespace labsync::transports {

struct rclone::command_outcome {
    transport_result status;
    std::string stdout_text;
    int exit_code = -1;
};

namespace {

// The most useful line for a message: the last error message, else the last stderr line.
std::string reason(std::string_view stderr_text) {
    auto messages = rclone_error_messages(stderr_text);
    if (!messages.empty()) return messages.back();
    return "no error message";
}

// The remote control of one running rclone: its address once announced, and its credentials.
struct rc_server {
    explicit rc_server(asio::any_io_executor ex) : announced(std::move(ex)) {}
    std::string url;
    const std::string user = detail::random_hex(16);
    const std::string pass = detail::random_hex(32);
    asio::steady_timer announced;  // cancelled when url is known
};

}  // namespace

std::unique_ptr<rclone> rclone::create(rclone_config config, asio::any_io_executor cpu, std::string* why) {
    auto fail = [&](std::string text) -> std::unique_ptr<rclone> {
        if (why) *why = "rclone: " + std::move(text);
        return nullptr;
    };
    if (auto problems = config.validate(); !problems.empty()) return fail(describe(problems));
    std::error_code ec;
    if (!fs::is_regular_file(config.config_file, ec))
        return fail("config_file '" + config.config_file.string() + "' is not a readable file");
    return std::unique_ptr<rclone>(new rclone(std::move(config), std::move(cpu)));
}

rclone::rclone(rclone_config config, asio::any_io_executor cpu)
    : config_(std::move(config)),
      cpu_(std::move(cpu)),
      daemon_(std::make_unique<detail::rclone_daemon>(config_)) {}

rclone::~rclone() = default;

void rclone::notice_once(const std::string& equipment, const std::string& text) {
    {
        std::lock_guard lock(noticed_mutex_);
        if (!noticed_.insert(equipment).second) return;
    }
    if (config_.log) config_.log(text);
}

asio::awaitable<rclone::command_outcome> rclone::hash_by_download(const std::string& dir,
                                                                  const std::string& equipment,
                                                                  rate_limiter* limiter) {
    subprocess_options o;
    o.equipment = equipment;
    o.path_env = config_.path_env;
    o.timeout = config_.command_timeout;
    o.argv = rclone_argv(config_, {"hashsum", "sha256", dir, "--download"});
    // Fail fast (the sftp backend otherwise redials for ~10 s): the engine's backoff owns retrying.
    o.argv.insert(o.argv.end(), {"--low-level-retries", "1"});
    o.capture_limit = 256u << 20;
    auto r = co_await run_throttled(std::move(o), limiter);
    command_outcome out;
    out.exit_code = r.exit_code;
    if (r.status != subprocess_result::outcome::exited) {
        const error_kind kind = r.status == subprocess_result::outcome::binary_missing
                                    ? error_kind::binary_missing
                                : r.status == subprocess_result::outcome::timed_out ? error_kind::network
                                                                                    : error_kind::unknown;
        out.status = transport_result::failure(kind, r.message);
        out.status.stderr_text = std::move(r.stderr_tail);
        co_return out;
    }
    out.status = r.exit_code == 0 ? transport_result::success()
                                  : transport_result::failure(
                                        classify_rclone(r.exit_code, r.stderr_tail),
                                        fmt::format("rclone hashsum on {} failed (exit {}): {}",
                                                    config_.remote, r.exit_code, reason(r.stderr_tail)),
                                        r.exit_code);
    out.status.stderr_text = std::move(r.stderr_tail);
    out.stdout_text = std::move(r.stdout_tail);
    co_return out;
}

asio::awaitable<detail::rc_answer> rclone::rc(std::string method, std::string body,
                                              const std::string& equipment,
                                              std::chrono::milliseconds timeout) {
    co_return co_await daemon_->call(std::move(method), std::move(body), equipment, timeout);
}

transport_result rclone::rc_failure(const detail::rc_answer& answer, std::string_view what) const {
    if (!answer.status.ok) return answer.status;
    const std::string text = rc_error_text(answer.body);
    return transport_result::failure(
        classify_rclone_rc(answer.http_status, text),
        fmt::format("rclone {} on {} failed (HTTP {}): {}", what, config_.remote, answer.http_status, text),
        answer.http_status);
}

asio::awaitable<void> rclone::set_share(std::uint64_t transfer, std::optional<std::uint64_t> share,
                                        const std::string& equipment) {
    auto wanted = [this] {
        std::uint64_t sum = 0;
        for (const auto& [id, rate] : shares_) {
            if (rate == 0) return std::uint64_t{0};
            sum += rate;
        }
        return sum;
    };
    std::uint64_t want = 0;
    {
        std::lock_guard lock(shares_mutex_);
        if (share)
            shares_[transfer] = *share;
        else
            shares_.erase(transfer);
        // Without transfers the rate does not matter: the next one sets its own.
        if (shares_.empty() || setting_rate_ || daemon_rate_ == wanted()) co_return;
        setting_rate_ = true;
        want = wanted();
    }
    for (;;) {
        auto a = co_await rc("core/bwlimit", rc_bwlimit_body(want), equipment, config_.command_timeout);
        std::lock_guard lock(shares_mutex_);
        if (a.status.ok && a.http_status == 200) {
            daemon_rate_ = want;
        } else {
            daemon_rate_.reset();
            if (config_.log)
                config_.log(fmt::format("equipment '{}': rclone rc core/bwlimit {} failed: {}", equipment,
                                        rclone_bwlimit(want), rc_failure(a, "core/bwlimit").message));
        }
        // A failed call is retried with the next change, never in a loop.
        if (shares_.empty() || !a.status.ok || a.http_status != 200 || daemon_rate_ == wanted()) {
            setting_rate_ = false;
            co_return;
        }
        want = wanted();
    }
}

asio::awaitable<subprocess_result> rclone::run_throttled(subprocess_options o, rate_limiter* limiter) {
    if (!limiter) co_return co_await run_subprocess(std::move(o));
    auto lease = limiter->begin_transfer();
    auto ex = co_await asio::this_coro::executor;
    detail::rate_watch watch(ex, lease.get());
    const std::uint64_t first = watch.rate();
    if (first > 0) o.argv.insert(o.argv.end(), {"--bwlimit", rclone_bwlimit(first)});
    for (auto& flag : rclone_rc_serve_flags()) o.argv.push_back(std::move(flag));
    auto rc = std::make_shared<rc_server>(ex);
    rc->announced.expires_at(asio::steady_timer::time_point::max());
    o.env["RCLONE_RC_USER"] = rc->user;
    o.env["RCLONE_RC_PASS"] = rc->pass;
    o.on_stderr_line = [rc, inner = std::move(o.on_stderr_line)](std::string_view line) {
        if (rc->url.empty())
            if (auto url = parse_rclone_rc_url(line)) {
                rc->url = std::move(*url);
                rc->announced.cancel();
            }
        if (inner) inner(line);
    };
    const std::string equipment = o.equipment;
    // Applies each new share over the remote control; runs until the transfer ends.
    auto apply = [this, &watch, rc, first, equipment]() -> asio::awaitable<void> {
        std::uint64_t applied = first;
        for (;;) {
            const std::uint64_t want = co_await watch.changed(applied, std::chrono::milliseconds(100));
            while (rc->url.empty()) {
                co_await rc->announced.async_wait(asio::as_tuple(asio::use_awaitable));
                if ((co_await asio::this_coro::cancellation_state).cancelled() !=
                    asio::cancellation_type::none)
                    co_return;
            }
            subprocess_options call;
            call.equipment = equipment;
            call.path_env = config_.path_env;
            call.timeout = config_.command_timeout;
            call.argv = rclone_rc_bwlimit_argv(config_, rc->url, want);
            call.env = {{"RCLONE_USER", rc->user}, {"RCLONE_PASS", rc->pass}};
            auto r = co_await run_subprocess(std::move(call));
            if (!r.success() && config_.log)
                config_.log(fmt::format("equipment '{}': rclone rc core/bwlimit {} failed ({}): {}",
                                        equipment, rclone_bwlimit(want),
                                        r.message.empty() ? to_string(r.status) : r.message,
                                        reason(r.stderr_tail)));
            applied = want;  // a failed call is retried with the next change, never in a loop
        }
    };
    auto raced = co_await (run_subprocess(std::move(o)) || apply());
    co_return std::get<0>(std::move(raced));
}

asio::awaitable<std::optional<bool>> rclone::remote_has_sha256(const std::string& equipment) {
    if (sha256_native_) co_return sha256_native_;
    const std::string remote_root = config_.remote.substr(0, config_.remote.find(':') + 1);
    auto a =
        co_await rc("operations/fsinfo", rc_fsinfo_body(remote_root), equipment, config_.command_timeout);
    if (a.status.ok && a.http_status == 200) sha256_native_ = features_have_sha256(a.body);
    co_return sha256_native_;
}

asio::awaitable<probe_result> rclone::remote_manifest(const std::string& dir, const std::string& equipment,
                                                      rate_limiter* limiter) {
    probe_result result;
    auto native = co_await remote_has_sha256(equipment);
    std::error_code ec;
    std::string why;
    std::optional<verifier::manifest> m;
    if (native.value_or(false)) {
        // The backend hashes the files now (the local backend reads them): one listing call.
        auto a = co_await rc("operations/list", rc_list_body(dir, true), equipment, config_.command_timeout);
        if (a.status.ok && a.http_status == 404) {  // directory not found: the run is not there
            result.status = transport_result::success();
            co_return result;
        }
        if (!a.status.ok || a.http_status != 200) {
            result.status = rc_failure(a, "hash listing of " + dir);
            // "not found" on the remote here, not a vanished local file.
            if (result.status.kind == error_kind::local_file_vanished)
                result.status.kind = error_kind::unknown;
            co_return result;
        }
        m = parse_rc_hash_list(a.body, ec, &why);
    } else {
        notice_once(equipment,
                    fmt::format("rclone remote {} has no SHA-256 hashes; equipment '{}' is verified by "
                                "downloading and hashing the remote files",
                                config_.remote, equipment));
        // Hashing by download moves the whole run: it takes its share of the bandwidth budget.
        auto out = co_await hash_by_download(dir, equipment, limiter);
        if (!out.status.ok && out.exit_code == 3) {  // directory not found: the run is not there
            result.status = transport_result::success();
            co_return result;
        }
        if (!out.status.ok) {
            // 3/4 mean "not found" on the remote here, not a vanished local file.
            if (out.status.kind == error_kind::local_file_vanished) out.status.kind = error_kind::unknown;
            result.status = std::move(out.status);
            co_return result;
        }
        m = verifier::manifest::parse_sha256sum(out.stdout_text, ec, &why);
    }
    if (ec) {
        result.status =
            transport_result::failure(error_kind::unknown, "remote manifest of " + dir + ": " + why);
        co_return result;
    }
    result.status = transport_result::success();
    // Bucket stores list an absent "directory" as empty.
    if (m->entries().empty()) co_return result;
    result.present = true;
    result.remote_manifest = std::move(*m);
    co_return result;
}

asio::awaitable<transport_result> rclone::judge_existing(const push_request& request,
                                                         const std::string& dir) {
    auto remote = co_await remote_manifest(dir, request.equipment, request.limiter);
    if (!remote.status.ok) co_return remote.status;
    co_return co_await detail::judge_against_local(
        request, remote, dir, cpu_,
        "rclone remote already holds a different run at " + dir + " (local data kept untouched)");
}

asio::awaitable<push_result> rclone::push(const push_request& request) {
    push_result out;
    out.status = co_await transfer(request, out.bytes_moved);
    co_return out;
}

asio::awaitable<transport_result> rclone::transfer(const push_request& request, std::uint64_t& sent) {
    if (auto refused = detail::check_push_request(request)) co_return std::move(*refused);
    const auto paths = make_rclone_paths(config_.remote, request.equipment, request.run_id);

    // Is the run already there? (404: directory not found; an empty listing: absent on buckets.)
    auto listed = co_await rc("operations/list", rc_list_body(paths.final_dir, false), request.equipment,
                              config_.command_timeout);
    if (listed.status.ok && listed.http_status == 200 && rc_list_nonempty(listed.body).value_or(false))
        co_return co_await judge_existing(request, paths.final_dir);
    if (!listed.status.ok || (listed.http_status != 200 && listed.http_status != 404)) {
        auto failed = rc_failure(listed, "listing of " + paths.final_dir);
        if (failed.kind == error_kind::local_file_vanished) failed.kind = error_kind::unknown;
        co_return failed;
    }

    auto synced = co_await sync_into(request, paths.staging_dir, sent);
    if (!synced.ok) co_return synced;

    // One server-side rename where the backend can move directories (DirMove), as rclone moveto.
    auto moved = co_await rc("sync/move", rc_move_body(paths.staging_dir, paths.final_dir), request.equipment,
                             config_.command_timeout);
    if (!moved.status.ok || moved.http_status != 200) {
        auto failed = rc_failure(moved, "move into " + paths.final_dir);
        if (failed.kind == error_kind::local_file_vanished) failed.kind = error_kind::unknown;
        co_return failed;
    }
    co_return transport_result::success();
}

asio::awaitable<transport_result> rclone::sync_into(const push_request& request, const std::string& staging,
                                                    std::uint64_t& sent) {
    // sync, not copy: the staging dir belongs to this run alone, and a leftover of an earlier
    // attempt must end up identical to the run (extras deleted), while files it already holds
    // completely are not sent again. The call is answered when the transfer ends; meanwhile its
    // stats group gives the progress, and the daemon's rate follows this transfer's share.
    const std::string group = "labsync-" + detail::random_hex(8);
    auto lease = request.limiter ? request.limiter->begin_transfer() : nullptr;
    detail::rate_watch watch(co_await asio::this_coro::executor, lease.get());
    const std::uint64_t id = [this] {
        std::lock_guard lock(shares_mutex_);
        return ++next_transfer_;
    }();
    co_await set_share(id, watch.rate(), request.equipment);
    // Stops the transfer in the daemon when this coroutine is abandoned (cancelled, or the
    // transfer timed out), and drops its stats group in any case.
    struct group_guard {
        detail::rclone_daemon& daemon;
        std::string body;
        bool finished = false;
        ~group_guard() {
            if (!finished) daemon.call_detached("job/stopgroup", body);
            daemon.call_detached("core/stats-delete", body);
        }
    } guard{*daemon_, rc_group_body(group)};

    auto report = [&](const detail::rc_answer& a) {
        if (!a.status.ok || a.http_status != 200) return;
        if (auto s = parse_rc_stats(a.body)) {
            sent = s->bytes;
            if (request.on_progress) request.on_progress(s->bytes, s->total_bytes);
        }
    };
    auto progress = [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor);
        for (;;) {
            timer.expires_after(config_.stats_interval);
            co_await timer.async_wait(asio::use_awaitable);
            report(
                co_await rc("core/stats", rc_group_body(group), request.equipment, config_.command_timeout));
        }
    };
    auto follow_share = [&]() -> asio::awaitable<void> {
        std::uint64_t applied = watch.rate();
        for (;;) {
            applied = co_await watch.changed(applied, std::chrono::milliseconds(100));
            co_await set_share(id, applied, request.equipment);
        }
    };
    auto raced = co_await (rc("sync/sync", rc_sync_body(request.run_path.string(), staging, group),
                              request.equipment, config_.transfer_timeout) ||
                           progress() || follow_share());
    co_await set_share(id, std::nullopt, request.equipment);
    auto& answer = std::get<0>(raced);
    if (!answer.status.ok) {
        if (answer.timed_out)
            co_return transport_result::failure(
                error_kind::network,
                fmt::format("rclone sync to {} did not finish within {} ms; its transfer "
                            "was stopped",
                            staging, config_.transfer_timeout.count()));
        co_return answer.status;
    }
    guard.finished = true;
    report(co_await rc("core/stats", rc_group_body(group), request.equipment, config_.command_timeout));
    if (answer.http_status != 200) co_return rc_failure(answer, "sync to " + staging);
    co_return transport_result::success();
}

asio::awaitable<probe_result> rclone::probe(const push_request& request) {
    if (auto refused = detail::check_probe_request(request)) co_return std::move(*refused);
    const auto paths = make_rclone_paths(config_.remote, request.equipment, request.run_id);
    co_return co_await remote_manifest(paths.final_dir, request.equipment, request.limiter);
}

}  // namespace labsync::transports
