// http_put's resumable upload against the real syncd-receiver: a run larger than the receiver's
// --max-body ships in parts, and after kill -9 of the receiver mid-upload a later push (a new
// driver, as after a sender restart) continues from the receiver's offset.
#include "http_put_harness.hpp"

#include "receiver_fixture.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <optional>

namespace fs = std::filesystem;
using namespace labsync;
using labsync::test::driver_harness;
using labsync::test::make_run;
using labsync::test::request_for;

namespace {

test::receiver_options small_parts(const fs::path& store) {
    test::receiver_options o;
    o.store = store;
    o.extra_args = {"--max-body", "1M"};
    return o;
}

transports::http_put_config plain_config(const test::receiver_fixture& rx, const test::temp_dir& t) {
    auto token = t / "token";
    if (!fs::exists(token)) test::write_file(token, rx.token() + "\n");
    transports::http_put_config c;
    c.url = rx.url();
    c.token_file = token;
    c.outbox = t / "outbox";
    c.zstd_level = 1;
    c.connect_timeout = std::chrono::seconds(5);
    c.io_timeout = std::chrono::seconds(10);
    return c;
}

}  // namespace

TEST_CASE("http_put: a run larger than the receiver's --max-body ships in parts and verifies",
          "[http_put][upload]") {
    test::temp_dir t;
    fs::create_directories(t / "store");
    test::receiver_fixture rx(small_parts(t / "store"), LABSYNC_RECEIVER);
    make_run(t / "runs" / "huge", 20, 1 << 20, 31);  // ~20 MiB, incompressible
    driver_harness h(plain_config(rx, t));
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "huge");
    auto pushed = h.push_with_proof(req);
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    const auto archive = h.driver().outbox_path("eq1", "huge");
    const auto total = fs::file_size(archive);
    CHECK(total > 20u << 20);
    CHECK(pushed.bytes_moved == total);
    CHECK_THAT(pushed.status.message, Catch::StartsWith("PATCH"));
    REQUIRE(pushed.evidence);
    CHECK(pushed.evidence->archive_sha256 == pushed.archive_sha256);
    CHECK_FALSE(fs::exists(transports::upload_sidecar_path(archive)));  // the upload is over

    auto probe = h.probe(req);
    REQUIRE(probe.status.ok);
    CHECK(probe.present);
    CHECK(probe.archive_sha256 == pushed.archive_sha256);
}

TEST_CASE("http_put: after kill -9 of the receiver mid-upload, the next push sends only the remainder",
          "[http_put][upload]") {
    test::temp_dir t;
    fs::create_directories(t / "store");
    std::optional<test::receiver_fixture> first;
    first.emplace(small_parts(t / "store"), LABSYNC_RECEIVER);
    make_run(t / "runs" / "cut", 20, 1 << 20, 32);
    auto req = request_for("eq1", t / "runs" / "cut");
    fs::path archive;
    std::uint64_t total = 0;
    {
        driver_harness h(plain_config(*first, t));
        REQUIRE(h.created());
        archive = h.driver().outbox_path("eq1", "cut");
        bool killed = false;
        const int pid = first->process().pid();
        req.on_progress = [&](std::uint64_t done, std::uint64_t size) {
            if (!killed && done * 4 >= size * 3) {  // at 75 %
                killed = true;
                ::kill(pid, SIGKILL);
            }
        };
        auto cut = h.push_with_proof(req);
        INFO(cut.status.message);
        CHECK(killed);
        CHECK_FALSE(cut.status.ok);
        CHECK(cut.status.kind == transports::error_kind::network);
        total = fs::file_size(archive);
        CHECK(fs::exists(transports::upload_sidecar_path(archive)));
    }
    first.reset();
    req.on_progress = nullptr;

    // A new receiver on the same store and a new driver (a sender restart): HEAD, then the rest.
    test::receiver_fixture second(small_parts(t / "store"), LABSYNC_RECEIVER);
    driver_harness h(plain_config(second, t));
    REQUIRE(h.created());
    auto resumed = h.push_with_proof(req);
    INFO(resumed.status.message);
    REQUIRE(resumed.status.ok);
    CHECK(resumed.status.returncode == 201);
    CHECK_THAT(resumed.status.message, Catch::Contains("resumed at"));
    CHECK(resumed.bytes_moved > 0);
    CHECK(resumed.bytes_moved * 10 < total * 3);  // < 30 % of the archive
    REQUIRE(resumed.evidence);
    CHECK(resumed.evidence->archive_sha256 == resumed.archive_sha256);
    auto probe = h.probe(req);
    REQUIRE(probe.status.ok);
    CHECK(probe.present);
    CHECK(probe.archive_sha256 == resumed.archive_sha256);
}
