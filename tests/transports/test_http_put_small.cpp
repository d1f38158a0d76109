// http_put's small-run path against the real syncd-receiver: an archive that ends within one upload
// part goes as ONE PUT from memory (no GET, POST, PATCH, no sidecar, no outbox copy) and still
// brings the receiver's sha256 and the run's manifest back; a receiver whose --max-body refuses
// that PUT (413 before the body) gets the same bytes as a resumable upload in parts.
#include "http_put_harness.hpp"

#include "labsync/verifier/manifest_builder.hpp"
#include "receiver_fixture.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

namespace fs = std::filesystem;
using namespace labsync;
using labsync::test::driver_harness;
using labsync::test::make_run;
using labsync::test::request_for;

namespace {

transports::http_put_config small_config(const test::receiver_fixture& rx, const test::temp_dir& t) {
    test::write_file(t / "token", rx.token() + "\n");
    transports::http_put_config c;
    c.url = rx.url();
    c.token_file = t / "token";
    c.outbox = t / "outbox";
    c.zstd_level = 1;
    c.connect_timeout = std::chrono::seconds(5);
    c.io_timeout = std::chrono::seconds(10);
    return c;  // spool 8 MiB: parts of 4 MiB
}

bool has_files(const fs::path& dir) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file()) return true;
    return false;
}

}  // namespace

TEST_CASE("http_put: an archive within one part goes as one PUT from memory, proven and with its manifest",
          "[http_put][small]") {
    test::temp_dir t;
    test::receiver_fixture rx({}, LABSYNC_RECEIVER);
    make_run(t / "runs" / "tiny", 3, 200'000, 51);  // ~600 KB, below a 4 MiB part
    test::counting_ops counter;
    driver_harness h(small_config(rx, t), counter.ops());
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "tiny");
    auto pushed = h.push_with_proof(req);
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    CHECK_THAT(pushed.status.message, Catch::StartsWith("PUT"));
    CHECK(*counter.packs == 1);
    const auto stored = rx.store() / "eq1" / "tiny.tar.zst";
    REQUIRE(fs::exists(stored));
    CHECK(pushed.bytes_moved == fs::file_size(stored));
    REQUIRE(pushed.evidence);
    CHECK(pushed.evidence->archive_sha256 == pushed.archive_sha256);
    CHECK_FALSE(has_files(t / "outbox"));  // no archive, no upload sidecar was ever needed
    REQUIRE(pushed.built);
    auto separate = verifier::build_manifest(t / "runs" / "tiny");
    REQUIRE(separate.ok());
    CHECK(pushed.built->manifest.digest() == separate.manifest.digest());
    CHECK(h.driver().connections_opened() == 1);
    // The receiver saw one PUT and no upload resource.
    CHECK_THAT(rx.stderr_text(), Catch::Contains("PUT eq1/tiny") && !Catch::Contains("POST"));

    // Stored already: the PUT is answered 200 before its body, with the same sha.
    auto again = h.push_with_proof(req);
    INFO(again.status.message);
    REQUIRE(again.status.ok);
    CHECK(again.status.returncode == 200);
    CHECK(again.bytes_moved == 0);
    REQUIRE(again.evidence);
    CHECK(again.evidence->archive_sha256 == pushed.archive_sha256);
    CHECK_FALSE(has_files(t / "outbox"));
}

TEST_CASE("http_put: a small archive over the receiver's --max-body goes as a resumable upload in parts",
          "[http_put][small]") {
    test::temp_dir t;
    test::receiver_fixture rx(test::small_parts(t / "store"), LABSYNC_RECEIVER);  // --max-body 1M
    make_run(t / "runs" / "two", 2, 1 << 20, 52);  // ~2 MiB incompressible: one 4 MiB part, two 1M bodies
    test::counting_ops counter;
    driver_harness h(small_config(rx, t), counter.ops());
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "two");
    auto pushed = h.push_with_proof(req);
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    CHECK_THAT(pushed.status.message, Catch::StartsWith("PATCH"));
    CHECK(*counter.packs == 1);  // the refused PUT's pack went on into the upload
    const auto stored = rx.store() / "eq1" / "two.tar.zst";
    REQUIRE(fs::exists(stored));
    CHECK(pushed.bytes_moved == fs::file_size(stored));
    REQUIRE(pushed.evidence);
    CHECK(pushed.evidence->archive_sha256 == pushed.archive_sha256);
    CHECK_FALSE(has_files(t / "outbox"));
}
