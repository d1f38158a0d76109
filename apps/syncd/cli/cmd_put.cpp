// `syncd put --url URL --equipment E [...] RUN_DIR`: ships one run through the http_put driver in
// the foreground (the same code path the engine uses), then probes the receiver and compares the
// stored archive's sha256 with the one shipped. Exit 0 only when both succeed and agree.
#include "cli/commands.hpp"

#include "labsync/common/ids.hpp"
#include "labsync/transports/http_put.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace labsync::apps {
namespace {

struct put_args {
    std::string url, equipment, run_dir, token_file, ca, cert, key, code_commit;
    std::string outbox = "/var/tmp/labsync-outbox";
    std::string level = "adaptive";  // http_put_config's default
    bool json = false;
    unsigned connect_timeout_s = 10, io_timeout_s = 60;
};

struct put_outcome {
    transports::transport_result push;
    transports::probe_result probe;
    std::optional<std::string> shipped;
    bool probed = false;
};

int run_put(const put_args& args) {
    std::error_code ec;
    fs::path run = fs::absolute(args.run_dir, ec).lexically_normal();
    if (!run.has_filename()) run = run.parent_path();  // "run/" names the same directory
    if (!fs::is_directory(fs::symlink_status(run, ec))) {
        fmt::print(stderr, "syncd put: {}: not a directory\n", args.run_dir);
        return exit_usage;
    }
    std::string run_id = run.filename().string();
    if (auto why = common::id_refusal_reason(common::id_kind::run, run_id); !why.empty()) {
        fmt::print(stderr, "syncd put: {} (the run id is the directory's name)\n", why);
        return exit_usage;
    }
    if (auto why = common::id_refusal_reason(common::id_kind::equipment, args.equipment); !why.empty()) {
        fmt::print(stderr, "syncd put: --equipment: {}\n", why);
        return exit_usage;
    }

    transports::http_put_config config;
    config.url = args.url;
    config.ca_file = args.ca;
    config.client_cert = args.cert;
    config.client_key = args.key;
    config.token_file = args.token_file;
    config.outbox = args.outbox;
    config.zstd_level = *verifier::parse_zstd_level(args.level);
    config.code_commit = args.code_commit;
    config.connect_timeout = std::chrono::seconds(args.connect_timeout_s);
    config.io_timeout = std::chrono::seconds(args.io_timeout_s);

    asio::io_context io;
    asio::thread_pool pool(2);
    std::string why;
    auto driver = transports::http_put::create(config, pool.get_executor(), &why);
    if (!driver) {
        fmt::print(stderr, "syncd put: {}\n", why);
        return exit_usage;
    }

    transports::push_request request;
    request.equipment = args.equipment;
    request.run_id = run_id;
    request.run_path = run;
    // An archive left by an earlier attempt is reused only if it still holds the run as it is now,
    // so take the run's manifest first in that case (a fresh pack needs no separate pass).
    std::optional<verifier::manifest> local;
    if (fs::exists(driver->outbox_path(args.equipment, run_id), ec)) {
        auto built = verifier::build_manifest(run);
        if (!built.ok()) {
            fmt::print(stderr, "syncd put: {}: {}\n", run.string(), built.error.message());
            return exit_failed;
        }
        local = std::move(built.manifest);
        request.local_manifest = &*local;
    }

    put_outcome outcome;
    std::exception_ptr failure;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto pushed = co_await driver->push(request);
            outcome.push = std::move(pushed.status);
            if (!outcome.push.ok) co_return;
            outcome.shipped = std::move(pushed.archive_sha256);
            outcome.probe = co_await driver->probe(request);
            outcome.probed = true;
        },
        [&](std::exception_ptr e) { failure = e; });
    io.run();
    pool.join();
    if (failure) std::rethrow_exception(failure);

    const auto& probe = outcome.probe;
    bool verified = outcome.probed && probe.status.ok && probe.present && outcome.shipped &&
                    probe.archive_sha256 == outcome.shipped;
    int code = exit_ok;
    if (!outcome.push.ok || (outcome.probed && !probe.status.ok))
        code = exit_failed;
    else if (!verified)
        code = exit_mismatch;

    if (args.json) {
        auto doc = nlohmann::json::parse(transports::to_json(outcome.push));
        doc["equipment"] = args.equipment;
        doc["run"] = run_id;
        doc["shipped_sha256"] = outcome.shipped.value_or("");
        doc["remote_sha256"] = probe.archive_sha256.value_or("");
        doc["verified"] = verified;
        if (outcome.probed && !probe.status.ok) doc["probe_error"] = probe.status.message;
        fmt::print("{}\n", doc.dump());
    } else {
        fmt::print("{} {}/{}: {}\n", outcome.push.ok ? "shipped" : "failed", args.equipment, run_id,
                   outcome.push.ok ? outcome.push.message
                                   : fmt::format("{}: {}", transports::to_string(outcome.push.kind),
                                                 outcome.push.message));
        if (outcome.probed) {
            if (!probe.status.ok)
                fmt::print("verify failed: {}\n", probe.status.message);
            else if (verified)
                fmt::print("verified: receiver holds sha256 {}\n", *probe.archive_sha256);
            else
                fmt::print("verify MISMATCH: shipped {} but the receiver holds {}\n",
                           outcome.shipped.value_or("?"),
                           probe.present ? probe.archive_sha256.value_or("?") : "nothing");
        }
    }
    std::fflush(stdout);
    return code;
}

}  // namespace

void register_put(CLI::App& app) {
    auto args = std::make_shared<put_args>();
    auto* cmd = app.add_subcommand("put", "Ship one run to a syncd-receiver over HTTP(S) and verify it");
    cmd->add_option("--url", args->url, "receiver base url, https://host:port")->required();
    cmd->add_option("--equipment", args->equipment, "equipment name")->required();
    cmd->add_option("--token-file", args->token_file, "file holding the bearer token");
    cmd->add_option("--ca", args->ca, "CA certificate(s) to trust for the receiver (PEM)");
    cmd->add_option("--cert", args->cert, "client certificate for mTLS (PEM)");
    cmd->add_option("--key", args->key, "client private key for mTLS (PEM)");
    cmd->add_option("--outbox", args->outbox, "outbox directory for archives")->capture_default_str();
    cmd->add_option("--level", args->level, "zstd level 1..19, 0 = store, or adaptive")
        ->check([](const std::string& s) {
            return verifier::parse_zstd_level(s) ? std::string() : "expected 0..19 or adaptive, got " + s;
        })
        ->capture_default_str();
    cmd->add_option("--code-commit", args->code_commit, "sent as X-Code-Commit");
    cmd->add_option("--connect-timeout", args->connect_timeout_s, "seconds")->capture_default_str();
    cmd->add_option("--io-timeout", args->io_timeout_s, "seconds a read or write may stall")
        ->capture_default_str();
    cmd->add_flag("--json", args->json, "print the result as JSON");
    cmd->add_option("RUN_DIR", args->run_dir, "run directory; its name is the run id")->required();
    cmd->callback([args] { command_exit_code = run_put(*args); });
}

}  // namespace labsync::apps
