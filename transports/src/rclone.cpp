// rclone: existence check → sync into staging → moveto into place; probe = hashsum sha256.
// Decisions live in rclone_commands (argv, parsing) and classify_rclone (exit codes, messages).
#include "labsync/transports/rclone.hpp"

#include "labsync/transports/classify_rclone.hpp"
#include "labsync/transports/rclone_commands.hpp"
#include "labsync/transports/subprocess.hpp"

#include "driver_steps.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "rate_watch.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>

#include <fmt/format.h>

#include <random>

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

std::string random_hex(std::size_t bytes) {
    std::random_device rd;
    std::string out;
    for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xff);
    return out;
}

// The remote control of one running rclone: its address once announced, and its credentials.
struct rc_server {
    explicit rc_server(asio::any_io_executor ex) : announced(std::move(ex)) {}
    std::string url;
    const std::string user = random_hex(16);
    const std::string pass = random_hex(32);
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
    : config_(std::move(config)), cpu_(std::move(cpu)) {}

void rclone::notice_once(const std::string& equipment, const std::string& text) {
    {
        std::lock_guard lock(noticed_mutex_);
        if (!noticed_.insert(equipment).second) return;
    }
    if (config_.log) config_.log(text);
}

asio::awaitable<rclone::command_outcome> rclone::run(std::vector<std::string> args,
                                                     const std::string& equipment,
                                                     std::chrono::milliseconds timeout,
                                                     rate_limiter* limiter) {
    subprocess_options o;
    o.equipment = equipment;
    o.path_env = config_.path_env;
    o.timeout = timeout;
    const std::string verb = args.empty() ? std::string() : args.front();
    o.argv = rclone_argv(config_, std::move(args));
    // Short commands fail fast (the sftp backend otherwise redials for ~10 s): the engine's
    // backoff owns retrying. The transfer keeps rclone's low-level retries (they resume chunks).
    o.argv.insert(o.argv.end(), {"--low-level-retries", "1"});
    o.capture_limit = verb == "hashsum" ? (256u << 20) : (64u << 10);
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
                                        fmt::format("rclone {} on {} failed (exit {}): {}", verb,
                                                    config_.remote, r.exit_code, reason(r.stderr_tail)),
                                        r.exit_code);
    out.status.stderr_text = std::move(r.stderr_tail);
    out.stdout_text = std::move(r.stdout_tail);
    co_return out;
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
    // (Named vectors: GCC 12 miscompiles braced lists inside co_await expressions.)
    std::vector<std::string> args{"backend", "features", remote_root};
    auto out = co_await run(std::move(args), equipment, config_.command_timeout);
    if (out.status.ok) sha256_native_ = features_have_sha256(out.stdout_text);
    co_return sha256_native_;
}

asio::awaitable<probe_result> rclone::remote_manifest(const std::string& dir, const std::string& equipment,
                                                      rate_limiter* limiter) {
    probe_result result;
    auto native = co_await remote_has_sha256(equipment);
    std::vector<std::string> args{"hashsum", "sha256", dir};
    const bool download = !native.value_or(false);
    if (download) {
        args.push_back("--download");
        notice_once(equipment,
                    fmt::format("rclone remote {} has no SHA-256 hashes; equipment '{}' is verified by "
                                "downloading and hashing the remote files",
                                config_.remote, equipment));
    }
    // Hashing by download moves the whole run: it takes its share of the bandwidth budget.
    auto out =
        co_await run(std::move(args), equipment, config_.command_timeout, download ? limiter : nullptr);
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
    result.status = transport_result::success();
    // Bucket stores list an absent "directory" as empty.
    if (out.stdout_text.empty()) co_return result;
    std::error_code ec;
    std::string why;
    auto m = verifier::manifest::parse_sha256sum(out.stdout_text, ec, &why);
    if (ec) {
        result.status =
            transport_result::failure(error_kind::unknown, "rclone hashsum of " + dir + ": " + why);
        co_return result;
    }
    result.present = true;
    result.remote_manifest = std::move(m);
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

    // Is the run already there? (lsf: exit 3 = directory not found; empty = absent on buckets.)
    std::vector<std::string> lsf{"lsf", "--max-depth", "1", paths.final_dir};
    auto listed = co_await run(std::move(lsf), request.equipment, config_.command_timeout);
    if (listed.status.ok && !listed.stdout_text.empty())
        co_return co_await judge_existing(request, paths.final_dir);
    if (!listed.status.ok && listed.exit_code != 3) {
        if (listed.status.kind == error_kind::local_file_vanished) listed.status.kind = error_kind::unknown;
        co_return listed.status;
    }

    // sync, not copy: the staging dir belongs to this run alone, and a leftover of an earlier
    // attempt must end up identical to the run (extras deleted), while files it already holds
    // completely are not sent again.
    std::vector<std::string> args{"sync",
                                  request.run_path.string(),
                                  paths.staging_dir,
                                  "--stats",
                                  std::to_string(config_.stats_interval.count()) + "ms",
                                  "--stats-log-level",
                                  "NOTICE"};
    subprocess_options o;
    o.equipment = request.equipment;
    o.path_env = config_.path_env;
    o.timeout = config_.transfer_timeout;
    o.argv = rclone_argv(config_, std::move(args));
    o.on_stderr_line = [cb = request.on_progress, &sent](std::string_view line) {
        if (auto s = parse_rclone_stats(line)) {
            sent = s->bytes;
            if (cb) cb(s->bytes, s->total_bytes);
        }
    };
    auto r = co_await run_throttled(std::move(o), request.limiter);
    if (r.status == subprocess_result::outcome::binary_missing)
        co_return transport_result::failure(error_kind::binary_missing, r.message);
    if (r.status != subprocess_result::outcome::exited)
        co_return transport_result::failure(
            r.status == subprocess_result::outcome::timed_out ? error_kind::network : error_kind::unknown,
            r.message);
    if (r.exit_code != 0) {
        auto failed =
            transport_result::failure(classify_rclone(r.exit_code, r.stderr_tail),
                                      fmt::format("rclone sync to {} failed (exit {}): {}", paths.staging_dir,
                                                  r.exit_code, reason(r.stderr_tail)),
                                      r.exit_code);
        failed.stderr_text = std::move(r.stderr_tail);
        co_return failed;
    }

    std::vector<std::string> moveto{"moveto", paths.staging_dir, paths.final_dir};
    auto moved = co_await run(std::move(moveto), request.equipment, config_.command_timeout);
    if (!moved.status.ok) {
        if (moved.status.kind == error_kind::local_file_vanished) moved.status.kind = error_kind::unknown;
        co_return moved.status;
    }
    co_return transport_result::success();
}

asio::awaitable<probe_result> rclone::probe(const push_request& request) {
    if (auto refused = detail::check_probe_request(request)) co_return std::move(*refused);
    const auto paths = make_rclone_paths(config_.remote, request.equipment, request.run_id);
    co_return co_await remote_manifest(paths.final_dir, request.equipment, request.limiter);
}

}  // namespace labsync::transports
