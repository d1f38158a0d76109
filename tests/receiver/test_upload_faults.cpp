// Resumable uploads under bad input and faults, against the real receiver: offsets that do not
// match, appends to completed or expired uploads, two clients appending at once, a PATCH above
// Upload-Limit, a completing digest that does not match, kill -9 of the receiver mid-append, a
// full disk, and expiry (at access and by the sweep at start).
#include "upload_client.hpp"

#include "labsync/receiver/upload_rules.hpp"
#include "skip.hpp"
#include "small_fs.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>

using namespace labsync::test;
namespace fs = std::filesystem;

namespace {

std::string metric_value(const receiver_fixture& rx, const std::string& name) {
    auto m = curl(rx.url() + "/metrics", tls_args(rx));
    auto at = m.body.find("\n" + name + " ");
    if (at == std::string::npos) return "";
    auto end = m.body.find('\n', at + 1);
    return m.body.substr(at + name.size() + 2, end - at - name.size() - 2);
}

std::string patch_head(const std::string& location, const receiver_fixture& rx, std::uint64_t offset,
                       std::uint64_t length, bool complete) {
    return "PATCH " + location + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + rx.token() +
           "\r\nUpload-Offset: " + std::to_string(offset) +
           "\r\nUpload-Complete: " + (complete ? "?1" : "?0") +
           "\r\nContent-Type: application/partial-upload\r\nContent-Length: " + std::to_string(length) +
           "\r\n\r\n";
}

// Rewrites the upload's state as last touched at unix time 0, i.e. long expired.
void age_upload(const fs::path& store, const std::string& location) {
    const auto state_path = store / ".uploads" / location.substr(12) / "state.json";
    auto state = labsync::receiver::parse_upload_state(read_file(state_path));
    REQUIRE(state);
    state->updated = 0;
    write_file(state_path, labsync::receiver::upload_state_json(*state));
}

}  // namespace

TEST_CASE("resumable upload bad input: offsets, completed uploads, limits, digests", "[receiver][upload]") {
    receiver_options o = blob_options();
    o.extra_args = {"--max-body", "32K"};
    receiver_fixture rx(o);
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 100000, 7);
    auto other = make_blob(tmp / "b", 100000, 8);
    upload_client c(rx);
    auto loc = c.create("eq1", "bad", 100000).header("location");
    REQUIRE(c.patch(loc, blob, 0, 30000, false).status == 204);

    // An offset that is not the upload's: 409 naming the current one, nothing appended.
    auto mismatch = c.patch(loc, blob, 20000, 40000, false);
    CHECK(mismatch.status == 409);
    CHECK(mismatch.offset() == 30000);
    auto body = nlohmann::json::parse(mismatch.body);
    CHECK(body["error"] == "offset_mismatch");
    CHECK(body["expected-offset"] == 30000);
    CHECK(body["provided-offset"] == 20000);

    // A PATCH above Upload-Limit's max-append-size (--max-body): 413 before any data.
    auto big = c.patch(loc, blob, 30000, 100000, true, {repr_digest_header(blob)});
    CHECK(big.status == 413);
    CHECK(big.header("upload-limit") == "max-append-size=32768");
    CHECK(c.head(loc).offset() == 30000);

    // A complete flag short of the length; headers that are not the protocol's.
    CHECK(c.patch(loc, blob, 30000, 50000, true, {repr_digest_header(blob)}).status == 400);
    CHECK(c.patch(loc, blob, 30000, 50000, false, {"Upload-Draft-Interop-Version: 3"}).status == 400);
    CHECK(c.request("PATCH", loc, {"Upload-Offset: 30000", "Upload-Complete: ?0", "Content-Type: text/plain"},
                    blob)
              .status == 415);
    CHECK(c.request("PATCH", loc, {"Upload-Offset: 30000", "Content-Type: application/partial-upload"}, blob)
              .status == 400);
    CHECK(c.head(loc).offset() == 30000);
    REQUIRE(c.patch(loc, blob, 30000, 60000, false).status == 204);
    REQUIRE(c.patch(loc, blob, 60000, 90000, false).status == 204);
    // Completing without a digest (none given at creation either).
    auto no_digest = c.patch(loc, blob, 90000, 100000, true);
    CHECK(no_digest.status == 400);
    CHECK(nlohmann::json::parse(no_digest.body)["error"] == "digest_required");
    CHECK(c.head(loc).offset() == 90000);

    // A digest that does not match: 422, nothing published; the upload is then complete.
    auto wrong = c.patch(loc, blob, 90000, 100000, true, {repr_digest_header(other)});
    CHECK(wrong.status == 422);
    CHECK(nlohmann::json::parse(wrong.body)["error"] == "sha256_mismatch");
    CHECK_FALSE(fs::exists(rx.store() / "eq1" / "bad.tar.zst"));
    CHECK(store_files(rx.store()) == std::vector<std::string>{".uploads/" + loc.substr(12) + "/state.json"});
    CHECK(c.head(loc).header("upload-complete") == "?1");
    // Appending to a completed upload: 400.
    auto after = c.patch(loc, blob, 100000, 100000, true, {repr_digest_header(blob)});
    CHECK(after.status == 400);
    CHECK(nlohmann::json::parse(after.body)["error"] == "upload_completed");

    // A part past the announced length.
    auto small = c.create("eq1", "small", 1000).header("location");
    auto past = c.patch(small, blob, 0, 1001, false);
    CHECK(past.status == 400);
    CHECK(nlohmann::json::parse(past.body)["error"] == "inconsistent_length");
    // Created and completed in one request, but without a digest: refused before anything is created.
    auto one = make_blob(tmp / "c", 1000, 9);
    auto at_once = c.request(
        "POST", "/v1/runs/eq1/once",
        {"Upload-Complete: ?1", "Upload-Length: 1000", "Content-Type: application/partial-upload"}, one);
    CHECK(at_once.status == 400);
    CHECK(nlohmann::json::parse(at_once.body)["error"] == "digest_required");
    CHECK(store_files(rx.store()).size() == 3);  // bad's state, small's state and data
    CHECK(c.request("PUT", loc, {}).status == 405);
    CHECK(c.head("/v1/uploads/0123456789abcdef0123456789abcdef").status == 404);
    CHECK(c.head("/v1/uploads/../../etc").status == 404);
}

TEST_CASE("resumable upload: two clients appending at once, exactly one wins", "[receiver][upload]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 200000, 9);
    upload_client c(rx);
    auto loc = c.create("eq1", "race", 200000).header("location");
    raw_conn first(rx.port());
    REQUIRE(first.send(patch_head(loc, rx, 0, 200000, false) + read_file(blob).substr(0, 50000)));
    REQUIRE(eventually([&] { return metric_value(rx, "labsync_receiver_uploads_in_flight") == "1"; }));
    auto second = c.patch(loc, blob, 0, 100000, false);
    CHECK(second.status == 423);
    CHECK(nlohmann::json::parse(second.body)["error"] == "upload_busy");
    // The first client goes away mid-body: what it sent is kept and acknowledged.
    first.close();
    REQUIRE(eventually([&] { return c.head(loc).offset() == 50000; }));
    auto done = c.patch(loc, blob, 50000, 200000, true, {repr_digest_header(blob)});
    CHECK(done.status == 201);
    CHECK(read_file(rx.store() / "eq1" / "race.tar.zst") == read_file(blob));
}

TEST_CASE("resumable upload: kill -9 mid-append, HEAD reports what survived, resume completes",
          "[receiver][upload]") {
    temp_dir tmp;
    receiver_options o;
    o.store = tmp / "store";
    auto archive = make_run_archive(tmp.path(), false, 8000000);
    const auto size = fs::file_size(archive);
    const std::uint64_t half = size / 2;
    const std::uint64_t written = 2u << 20;  // of the second part: two whole 1 MiB chunks, then more
    std::string location;
    {
        receiver_fixture rx(o);
        upload_client c(rx);
        location = c.create("eq1", "killed", size).header("location");
        REQUIRE(c.patch(location, archive, 0, half, false).status == 204);
        raw_conn conn(rx.port());
        REQUIRE(conn.send(patch_head(location, rx, half, size - half, false) +
                          read_file(archive).substr(half, written + 500000)));
        // Received and written, but not acknowledged (no checkpoint before 64 MiB or the end).
        REQUIRE(eventually([&] {
            return metric_value(rx, "labsync_receiver_bytes_received_total") ==
                   std::to_string(half + written);
        }));
        rx.process().stop(SIGKILL);
    }
    receiver_fixture again(o);
    upload_client c(again);
    auto h = c.head(location);
    REQUIRE(h.status == 204);
    CHECK(h.offset() == half);  // the unacknowledged tail of the killed request is not reported
    CHECK(fs::file_size(*o.store / ".uploads" / location.substr(12) / "data") >= half);
    auto done = c.patch(location, archive, half, size, true, {repr_digest_header(archive)});
    REQUIRE(done.status == 201);
    CHECK(read_file(*o.store / "eq1" / "killed.tar.zst") == read_file(archive));
    CHECK(again.stderr_text().find("re-read " + std::to_string(half)) != std::string::npos);
}

TEST_CASE("resumable upload: disk full mid-upload is 507, the upload resumes when space returns",
          "[receiver][upload]") {
    temp_dir tmp;
    small_fs disk(tmp / "small", "8m");
    if (!disk.mounted) skip_test(disk.why_not);
    receiver_options o = blob_options();
    o.store = disk.dir / "store";
    receiver_fixture rx(o);
    auto blob = make_blob(tmp / "a", 6 << 20, 10);
    upload_client c(rx);
    // A length that cannot fit: 507 before any data.
    CHECK(c.create("eq1", "huge", 64 << 20).status == 507);
    auto loc = c.create("eq1", "full", 6 << 20).header("location");
    REQUIRE(c.patch(loc, blob, 0, 2 << 20, false).status == 204);
    // Something else fills the disk.
    run_process({"dd", "if=/dev/zero", "of=" + (disk.dir / "filler").string(), "bs=1M", "count=16"});
    auto full = c.patch(loc, blob, 2 << 20, 6 << 20, true, {repr_digest_header(blob)});
    CHECK(full.status == 507);
    CHECK(full.offset() == 2u << 20);
    CHECK_FALSE(fs::exists(rx.store() / "eq1" / "full.tar.zst"));
    fs::remove(disk.dir / "filler");
    REQUIRE(c.head(loc).offset() == 2u << 20);
    auto done = c.patch(loc, blob, 2 << 20, 6 << 20, true, {repr_digest_header(blob)});
    CHECK(done.status == 201);
    CHECK(read_file(rx.store() / "eq1" / "full.tar.zst") == read_file(blob));
}

TEST_CASE("resumable upload: expiry at access and by the sweep at start, counted in /metrics",
          "[receiver][upload]") {
    temp_dir tmp;
    receiver_options o = blob_options();
    o.store = tmp / "store";
    auto blob = make_blob(tmp / "a", 30000, 11);
    std::string at_access, at_start;
    {
        receiver_fixture rx(o);
        upload_client c(rx);
        at_access = c.create("eq1", "old1").header("location");
        at_start = c.create("eq1", "old2").header("location");
        REQUIRE(c.patch(at_access, blob, 0, 10000, false).status == 204);
        REQUIRE(c.patch(at_start, blob, 0, 10000, false).status == 204);
        age_upload(rx.store(), at_access);
        CHECK(c.head(at_access).status == 404);
        auto append = c.patch(at_access, blob, 10000, 30000, true, {repr_digest_header(blob)});
        CHECK(append.status == 404);
        CHECK(nlohmann::json::parse(append.body)["error"] == "upload_expired");
        CHECK_FALSE(fs::exists(rx.store() / ".uploads" / at_access.substr(12)));
        CHECK(metric_value(rx, "labsync_receiver_resumable_uploads_total{event=\"expired\"}") == "1");
        age_upload(rx.store(), at_start);
    }
    receiver_fixture restarted(o);
    CHECK_FALSE(fs::exists(restarted.store() / ".uploads" / at_start.substr(12)));
    CHECK(metric_value(restarted, "labsync_receiver_resumable_uploads_total{event=\"expired\"}") == "1");
    CHECK(store_files(restarted.store()).empty());
}
