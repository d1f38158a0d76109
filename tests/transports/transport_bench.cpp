// Bench driver for bench/rsync.sh and bench/stream.sh: ships runs one by one through the
// rsync_ssh, rclone or http_put driver (push, then the probe: the remote SHA-256 manifest, or the
// stored archive's sha256 re-hashed by the receiver), exactly as the engine would, and exits
// non-zero when a push fails or the remote does not hold what was pushed.
//
//   transport_bench rsync  HOST PORT USER KEY KNOWN_HOSTS DEST EQUIPMENT RUN...
//   transport_bench rclone CONFIG REMOTE EQUIPMENT RUN...
//   transport_bench http   URL OUTBOX EQUIPMENT RUN...   (SPOOL=bytes, IO_TIMEOUT=seconds, LEVEL)
//   (PUSH_ONLY=1 in the environment skips the verification; PROBE=1 probes even when the push
//   brought evidence; REMOTE_SYNC=0 skips rsync_ssh's remote sync)
#include "labsync/transports/http_put.hpp"
#include "labsync/transports/rclone.hpp"
#include "labsync/transports/rsync_ssh.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace labsync::transports;

namespace {

std::size_t regular_files(const fs::path& run) {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(run))
        if (e.is_regular_file() && !e.is_symlink()) ++n;
    return n;
}

int ship_all(transport& driver, const std::string& equipment, char** runs, int count) {
    asio::io_context io;
    int failures = 0;
    // PUSH_ONLY=1: time the transfer alone (no probe), to separate shipping from verifying.
    auto flag = [](const char* name) {
        const char* env = std::getenv(name);
        return env && std::string(env) == "1";
    };
    const bool push_only = flag("PUSH_ONLY");
    const bool always_probe = flag("PROBE");
    auto all = [&]() -> asio::awaitable<void> {
        for (int i = 0; i < count; ++i) {
            push_request req;
            req.equipment = equipment;
            req.run_path = fs::path(runs[i]).lexically_normal();
            if (req.run_path.filename().empty()) req.run_path = req.run_path.parent_path();
            req.run_id = req.run_path.filename().string();
            auto result = co_await driver.push(req);
            const auto& pushed = result.status;
            std::cerr << req.run_id << ": " << pushed.message << "\n";
            if (!pushed.ok) {
                std::cerr << req.run_id << ": push failed (" << to_string(pushed.kind)
                          << "): " << pushed.message << "\n";
                ++failures;
                continue;
            }
            if (push_only) continue;
            probe_result probed;
            if (result.evidence && !always_probe) {
                probed.status = transport_result::success();
                static_cast<remote_evidence&>(probed) = std::move(*result.evidence);
            } else {
                probed = co_await driver.probe(req);
            }
            if (result.archive_sha256) {
                if (!probed.status.ok || probed.archive_sha256 != result.archive_sha256) {
                    std::cerr << req.run_id
                              << ": the receiver does not hold what was pushed: " << probed.status.message
                              << "\n";
                    ++failures;
                }
            } else if (!probed.status.ok || !probed.remote_manifest ||
                       probed.remote_manifest->entries().size() != regular_files(req.run_path)) {
                std::cerr << req.run_id << ": remote manifest incomplete: " << probed.status.message << "\n";
                ++failures;
            }
        }
    };
    auto fut = asio::co_spawn(io, all(), asio::use_future);
    io.run();
    fut.get();
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    asio::thread_pool cpu(1);
    std::string why;
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "rsync" && argc >= 10) {
        rsync_ssh_config c;
        c.host = argv[2];
        c.port = static_cast<std::uint16_t>(std::stoi(argv[3]));
        c.user = argv[4];
        c.identity_file = argv[5];
        c.known_hosts = argv[6];
        c.dest = argv[7];
        // REMOTE_SYNC=0: skip the remote fsyncs (to show what durability costs).
        if (const char* sync = std::getenv("REMOTE_SYNC"); sync && std::string(sync) == "0")
            c.remote_sync = false;
        auto d = rsync_ssh::create(c, cpu.get_executor(), &why);
        if (!d) return std::cerr << why << "\n", 2;
        return ship_all(*d, argv[8], argv + 9, argc - 9);
    }
    if (mode == "rclone" && argc >= 6) {
        rclone_config c;
        c.config_file = argv[2];
        c.remote = argv[3];
        c.log = [](std::string_view t) { std::cerr << t << "\n"; };
        auto d = rclone::create(c, cpu.get_executor(), &why);
        if (!d) return std::cerr << why << "\n", 2;
        return ship_all(*d, argv[4], argv + 5, argc - 5);
    }
    if (mode == "http" && argc >= 5) {
        http_put_config c;
        c.url = argv[2];
        c.outbox = argv[3];
        if (const char* v = std::getenv("SPOOL")) c.spool_bytes = std::stoull(v);
        if (const char* v = std::getenv("IO_TIMEOUT")) c.io_timeout = std::chrono::seconds(std::stoi(v));
        if (const char* v = std::getenv("LEVEL")) c.zstd_level = std::stoi(v);
        auto d = http_put::create(c, cpu.get_executor(), &why);
        if (!d) return std::cerr << why << "\n", 2;
        return ship_all(*d, argv[4], argv + 5, argc - 5);
    }
    std::cerr << "usage: transport_bench rsync HOST PORT USER KEY KNOWN_HOSTS DEST EQUIPMENT RUN...\n"
                 "       transport_bench rclone CONFIG REMOTE EQUIPMENT RUN...\n"
                 "       transport_bench http URL OUTBOX EQUIPMENT RUN...\n";
    return 2;
}
