// http_put's streaming data path against the real syncd-receiver: the archive goes from the packer
// through the bounded memory spool into PATCH bodies (no outbox copy), the push brings the run's
// manifest back, a broken connection resumes from the spool within the push (fault proxy), and a
// run changed between a failed push and its retry restarts from zero (never a mix of versions).
#include "http_put_harness.hpp"

#include "../../transports/src/http_put_spool.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "labsync/verifier/sha256.hpp"
#include "process.hpp"
#include "receiver_fixture.hpp"
#include "temp_dir.hpp"

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

namespace fs = std::filesystem;
using namespace labsync;
using labsync::test::driver_harness;
using labsync::test::make_run;
using labsync::test::request_for;

namespace {

transports::http_put_config stream_config(const std::string& url, const std::string& token,
                                          const test::temp_dir& t) {
    test::write_file(t / "token", token + "\n");
    transports::http_put_config c;
    c.url = url;
    c.token_file = t / "token";
    c.outbox = t / "outbox";
    c.zstd_level = 1;
    c.connect_timeout = std::chrono::seconds(5);
    c.io_timeout = std::chrono::seconds(10);
    c.spool_bytes = 4u << 20;  // parts of 1 MiB (the receiver's limit), 4 MiB in memory at most
    return c;
}

// Regular files under `dir` (the outbox must stay empty on the happy path).
std::vector<fs::path> files_under(const fs::path& dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file()) out.push_back(it->path());
    return out;
}

std::string file_sha256(const fs::path& file) {
    const std::string data = test::read_file(file);
    verifier::sha256 h;
    h.update(std::as_bytes(std::span<const char>(data.data(), data.size())));
    return verifier::to_hex(h.finish());
}

}  // namespace

TEST_CASE("upload_spool: bounded, blocks the packer until bytes are released, cancel unblocks",
          "[http_put][stream]") {
    boost::asio::io_context io;
    transports::detail::upload_spool spool(io.get_executor(), 2u << 20, 0);
    std::vector<std::byte> piece(256 * 1024, std::byte{7});
    std::atomic<std::uint64_t> appended{0};
    std::thread packer([&] {
        for (int i = 0; i < 40; ++i) {  // 10 MiB
            if (spool.append(piece)) return;
            appended += piece.size();
        }
    });
    // The packer stops at the bound until the consumer releases.
    std::uint64_t released = 0;
    while (released < 6u << 20) {
        auto s = spool.snapshot();
        if (s.end - s.begin >= 2u << 20) {
            CHECK(spool.view(s.begin, 1 << 20).size() > 0);
            released = s.begin + (1u << 20);
            spool.release(released);
        } else {
            std::this_thread::yield();
        }
    }
    CHECK(spool.peak_held() <= 2u << 20);
    spool.cancel();  // the packer, blocked on a full spool, returns at once
    packer.join();
    CHECK(appended < 10u << 20);
    CHECK(spool.append(piece) == std::make_error_code(std::errc::operation_canceled));
}

TEST_CASE("upload_spool: bytes below the skip offset are counted, not held", "[http_put][stream]") {
    boost::asio::io_context io;
    transports::detail::upload_spool spool(io.get_executor(), 2u << 20, 3u << 20);
    std::vector<std::byte> piece(1u << 20, std::byte{1});
    for (int i = 0; i < 4; ++i) REQUIRE_FALSE(spool.append(piece));
    auto s = spool.snapshot();
    CHECK(s.begin == 3u << 20);
    CHECK(s.end == 4u << 20);
    CHECK(spool.peak_held() == 1u << 20);
    CHECK(spool.view((3u << 20) - 1, 10).empty());  // skipped: not here
    CHECK(spool.view(3u << 20, 1u << 20).size() == 1u << 20);
}

TEST_CASE("http_put: a push streams the archive without an outbox copy and brings the run's manifest",
          "[http_put][stream]") {
    test::temp_dir t;
    test::receiver_fixture rx(test::small_parts(t / "store"), LABSYNC_RECEIVER);
    make_run(t / "runs" / "s1", 12, 1 << 20, 41);  // ~12 MiB incompressible: 12+ parts
    test::counting_ops counter;
    driver_harness h(stream_config(rx.url(), rx.token(), t), counter.ops());
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "s1");
    std::uint64_t packed = 0;
    req.on_pack_progress = [&](std::uint64_t done, std::uint64_t) { packed = done; };
    auto pushed = h.push_with_proof(req);
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    CHECK(*counter.packs == 1);
    const auto stored = rx.store() / "eq1" / "s1.tar.zst";
    REQUIRE(fs::exists(stored));
    CHECK(pushed.bytes_moved == fs::file_size(stored));
    REQUIRE(pushed.evidence);
    CHECK(pushed.evidence->archive_sha256 == pushed.archive_sha256);
    CHECK(files_under(t / "outbox").empty());  // no archive, no sidecar left
    // The manifest came from the same read and equals a separate manifest pass.
    REQUIRE(pushed.built);
    CHECK(packed == pushed.built->manifest.total_bytes());  // the packing phase saw every byte
    auto separate = verifier::build_manifest(t / "runs" / "s1");
    REQUIRE(separate.ok());
    CHECK(pushed.built->manifest.digest() == separate.manifest.digest());
    CHECK(verifier::tree_digest(*pushed.built) == verifier::tree_digest(separate));
    auto probe = h.probe(req);
    REQUIRE(probe.status.ok);
    CHECK(probe.archive_sha256 == pushed.archive_sha256);
}

TEST_CASE("http_put: a connection broken mid-upload resumes from the spool within the same push",
          "[http_put][stream]") {
    test::temp_dir t;
    test::receiver_fixture rx(test::small_parts(t / "store"), LABSYNC_RECEIVER);
    // The first connection is reset after 6 MiB of requests; the next ones pass.
    test::child_process proxy({LABSYNC_FAULT_PROXY, "--target", "127.0.0.1:" + std::to_string(rx.port()),
                               "--mode", "reset", "--faulty", "1", "--bytes", std::to_string(6u << 20)});
    auto line = proxy.wait_for_line("listening on", std::chrono::seconds(10));
    REQUIRE(line);
    const std::string port = line->substr(line->rfind(':') + 1);
    make_run(t / "runs" / "s2", 12, 1 << 20, 42);
    test::counting_ops counter;
    driver_harness h(stream_config("http://127.0.0.1:" + port, rx.token(), t), counter.ops());
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "s2");
    auto pushed = h.push_with_proof(req);
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    CHECK(proxy.wait_for_line("fault 1", std::chrono::seconds(1)));
    CHECK(*counter.packs == 1);  // not packed again: the spool still held the unacknowledged part
    const auto size = fs::file_size(rx.store() / "eq1" / "s2.tar.zst");
    CHECK(pushed.bytes_moved >= size);
    CHECK(pushed.bytes_moved <= size + (1u << 20));  // at most the broken part again
    CHECK(files_under(t / "outbox").empty());
    auto probe = h.probe(req);
    REQUIRE(probe.status.ok);
    CHECK(probe.archive_sha256 == pushed.archive_sha256);
}

TEST_CASE("http_put: a run changed between a failed push and its retry restarts from zero",
          "[http_put][stream]") {
    test::temp_dir t;
    fs::create_directories(t / "store");
    make_run(t / "runs" / "s3", 16, 1 << 20, 43);
    auto req = request_for("eq1", t / "runs" / "s3");
    {
        test::receiver_fixture first(test::small_parts(t / "store"), LABSYNC_RECEIVER);
        driver_harness h(stream_config(first.url(), first.token(), t));
        REQUIRE(h.created());
        bool killed = false;
        const int pid = first.process().pid();
        req.on_progress = [&](std::uint64_t done, std::uint64_t) {
            if (!killed && done >= 8u << 20) {
                killed = true;
                ::kill(pid, SIGKILL);
            }
        };
        auto cut = h.push_with_proof(req);
        INFO(cut.status.message);
        CHECK(killed);
        CHECK_FALSE(cut.status.ok);
        CHECK(fs::exists(t / "outbox" / "eq1" / "s3.tar.zst.upload"));
    }
    req.on_progress = nullptr;
    // The first file changes (same size, other bytes): the receiver's prefix is of the old run.
    make_run(t / "scratch", 1, 1 << 20, 99);
    fs::copy_file(t / "scratch" / "data-0.bin", t / "runs" / "s3" / "data-0.bin",
                  fs::copy_options::overwrite_existing);

    test::receiver_fixture second(test::small_parts(t / "store"), LABSYNC_RECEIVER);
    test::counting_ops counter;
    driver_harness h(stream_config(second.url(), second.token(), t), counter.ops());
    REQUIRE(h.created());
    auto again = h.push_with_proof(req);
    INFO(again.status.message);
    REQUIRE(again.status.ok);
    CHECK(again.status.returncode == 201);
    CHECK(*counter.packs == 2);  // skip to the offset, refused (422), then from zero
    const auto stored = second.store() / "eq1" / "s3.tar.zst";
    CHECK(again.bytes_moved >= fs::file_size(stored));
    // What is stored is the new version, whole.
    CHECK(file_sha256(stored) == *again.archive_sha256);
    auto separate = verifier::build_manifest(t / "runs" / "s3");
    REQUIRE(again.built);
    CHECK(again.built->manifest.digest() == separate.manifest.digest());
    CHECK(files_under(t / "outbox").empty());
}
