// Resumable uploads (docs/protocol.md "Resumable uploads") against the real syncd-receiver with
// curl and python's http.client: create, offset retrieval, append in parts larger in total than
// --max-body, completion with the PUT answers and checks, cancellation, and a second receiver on
// the same store continuing an upload the first one started; zstd frames spanning parts checked.
#include "upload_client.hpp"

#include "labsync/verifier/archive_writer.hpp"

#include <zstd.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace labsync::test;
namespace fs = std::filesystem;

namespace {

// Sends nothing but the upload fields a HEAD reports.
void check_offset(upload_client& c, const std::string& location, std::uint64_t offset,
                  bool complete = false) {
    auto h = c.head(location);
    REQUIRE(h.status == 204);
    CHECK(h.offset() == offset);
    CHECK(h.header("upload-complete") == (complete ? "?1" : "?0"));
    CHECK(h.header("cache-control") == "no-store");
}

std::string metric(const receiver_fixture& rx, const std::string& line_prefix) {
    auto m = curl(rx.url() + "/metrics", tls_args(rx));
    auto at = m.body.find(line_prefix);
    if (at == std::string::npos) return "";
    auto end = m.body.find('\n', at);
    return m.body.substr(at + line_prefix.size() + 1, end - at - line_prefix.size() - 1);
}

}  // namespace

TEST_CASE("resumable upload with curl: create, HEAD, PATCH in parts, complete", "[receiver][upload]") {
    receiver_options o;
    o.extra_args = {"--max-body", "100K"};  // a run larger than one request's limit
    receiver_fixture rx(o);
    temp_dir tmp;
    auto archive = make_run_archive(tmp.path(), false, 400000);
    const auto size = fs::file_size(archive);
    REQUIRE(size > 200 * 1024);
    upload_client c(rx);

    auto created = c.create("eq1", "run-res", size);
    REQUIRE(created.status == 201);
    const auto location = created.header("location");
    REQUIRE(location.starts_with("/v1/uploads/"));
    CHECK(created.offset() == 0);
    CHECK(created.header("upload-complete") == "?0");
    CHECK(created.header("upload-limit").starts_with("max-append-size=102400, expires="));
    CHECK(created.header("upload-draft-interop-version") == "6");
    check_offset(c, location, 0);

    std::uint64_t at = 0;
    const std::uint64_t part = 100 * 1024;
    while (size - at > part) {
        auto r = c.patch(location, archive, at, at + part, false);
        REQUIRE(r.status == 204);
        at += part;
        CHECK(r.offset() == at);
        check_offset(c, location, at);
    }
    CHECK_FALSE(fs::exists(rx.store() / "eq1" / "run-res.tar.zst"));  // nothing visible before completion
    auto done = c.patch(location, archive, at, size, true, {repr_digest_header(archive)});
    REQUIRE(done.status == 201);
    CHECK(done.offset() == size);
    CHECK(done.header("upload-complete") == "?1");
    auto sidecar = nlohmann::json::parse(done.body);
    CHECK(sidecar["sha256"] == sha256_of_file(archive));
    CHECK(sidecar["bytes"] == size);
    CHECK(read_file(rx.store() / "eq1" / "run-res.tar.zst") == read_file(archive));
    check_offset(c, location, size, true);
    // The completed upload keeps only its state (until it expires); the data was released.
    auto id = location.substr(12);
    CHECK(store_files(rx.store()) == std::vector<std::string>{".uploads/" + id + "/state.json",
                                                              "eq1/run-res.json", "eq1/run-res.tar.zst"});
    // Stored like a PUT: GET reports it, and a PUT of the same archive (curl sends Expect:
    // 100-continue) is answered 200 from the stored copy although it is over this --max-body.
    auto get = curl(rx.run_url("eq1", "run-res"), auth_args(rx.token()));
    CHECK(get.status == 200);
    CHECK(nlohmann::json::parse(get.body)["sha256"] == sha256_of_file(archive));
    CHECK(curl_put(rx, "eq1", "run-res", archive).status == 200);
    CHECK(metric(rx, "labsync_receiver_resumable_uploads_total{event=\"created\"}") == "1");
    CHECK(metric(rx, "labsync_receiver_resumable_uploads_total{event=\"completed\"}") == "1");
}

TEST_CASE("resumable upload: completion answers like PUT (200 same, 409 divergent)", "[receiver][upload]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto a = make_blob(tmp / "a", 50000, 1);
    auto b = make_blob(tmp / "b", 50000, 2);
    REQUIRE(curl_put(rx, "eq1", "r", a).status == 201);
    upload_client c(rx);
    auto same = c.create("eq1", "r");
    auto r1 = c.patch(same.header("location"), a, 0, 50000, true, {repr_digest_header(a)});
    CHECK(r1.status == 200);
    auto other = c.create("eq1", "r");
    auto r2 = c.patch(other.header("location"), b, 0, 50000, true, {repr_digest_header(b)});
    CHECK(r2.status == 409);
    CHECK(nlohmann::json::parse(r2.body)["error"] == "conflict");
    CHECK(read_file(rx.store() / "eq1" / "r.tar.zst") == read_file(a));
}

TEST_CASE("resumable upload: the digest given at creation, data sent with the creation",
          "[receiver][upload]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 70000, 3);
    upload_client c(rx);
    auto r = c.request("POST", "/v1/runs/eq1/r2",
                       {"Upload-Complete: ?1", "Upload-Length: 70000", "Upload-Draft-Interop-Version: 6",
                        "Content-Type: application/partial-upload", repr_digest_header(blob)},
                       blob);
    REQUIRE(r.status == 201);  // after a 104 carrying the Location (curl shows the final answer)
    CHECK(r.header("location").starts_with("/v1/uploads/"));
    CHECK(r.header("upload-complete") == "?1");
    CHECK(read_file(rx.store() / "eq1" / "r2.tar.zst") == read_file(blob));
}

TEST_CASE("resumable upload: DELETE cancels and releases the space", "[receiver][upload]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 60000, 4);
    upload_client c(rx);
    auto loc = c.create("eq1", "r3").header("location");
    REQUIRE(c.patch(loc, blob, 0, 30000, false).status == 204);
    CHECK(c.del(loc).status == 204);
    CHECK(c.head(loc).status == 404);
    CHECK(c.patch(loc, blob, 30000, 60000, true, {repr_digest_header(blob)}).status == 404);
    CHECK(store_files(rx.store()).empty());
    CHECK(metric(rx, "labsync_receiver_resumable_uploads_total{event=\"cancelled\"}") == "1");
}

TEST_CASE("resumable upload: another equipment's token cannot see or touch the upload",
          "[receiver][upload]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 1000, 5);
    upload_client c(rx);
    auto loc = c.create("eq1", "r4").header("location");
    upload_client lab(rx, receiver_options::lab_token);
    CHECK(lab.head(loc).status == 403);
    CHECK(lab.patch(loc, blob, 0, 1000, false).status == 403);
    CHECK(lab.del(loc).status == 403);
    upload_client nobody(rx, "not-a-token");
    CHECK(nobody.create("eq1", "r5").status == 401);
    CHECK(c.head(loc).offset() == 0);
}

TEST_CASE("resumable upload: a second receiver on the same store continues the upload",
          "[receiver][upload]") {
    temp_dir tmp;
    receiver_options o;
    o.store = tmp / "store";
    receiver_fixture first(o);
    receiver_fixture second(o);
    auto archive = make_run_archive(tmp.path(), false, 300000);
    const auto size = fs::file_size(archive);
    upload_client c1(first), c2(second);
    auto loc = c1.create("eq1", "shared", size).header("location");
    REQUIRE(c1.patch(loc, archive, 0, size / 2, false).status == 204);
    check_offset(c2, loc, size / 2);
    // The member check resumes in the second process by re-reading what the first one stored.
    auto done = c2.patch(loc, archive, size / 2, size, true, {repr_digest_header(archive)});
    REQUIRE(done.status == 201);
    CHECK(read_file(*o.store / "eq1" / "shared.tar.zst") == read_file(archive));
    CHECK(second.stderr_text().find("re-read " + std::to_string(size / 2) + " stored bytes") !=
          std::string::npos);
}

TEST_CASE("resumable upload with python http.client", "[receiver][upload]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 200000, 6);
    const std::string script = R"PY(
import base64, hashlib, http.client, sys
port, token, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(path, 'rb').read()
auth = {'Authorization': 'Bearer ' + token}
c = http.client.HTTPConnection('127.0.0.1', port)
c.request('POST', '/v1/runs/eq1/py', headers=dict(auth, **{'Upload-Complete': '?0', 'Upload-Length': str(len(data))}))
r = c.getresponse(); r.read()
assert r.status == 201, r.status
loc = r.getheader('Location')
c.request('PATCH', loc, body=data[:120000], headers=dict(auth, **{'Upload-Offset': '0', 'Upload-Complete': '?0', 'Content-Type': 'application/partial-upload'}))
r = c.getresponse(); r.read()
assert r.status == 204 and r.getheader('Upload-Offset') == '120000', (r.status, r.getheader('Upload-Offset'))
c.request('HEAD', loc, headers=auth)
r = c.getresponse(); r.read()
off = int(r.getheader('Upload-Offset'))
digest = 'sha-256=:' + base64.b64encode(hashlib.sha256(data).digest()).decode() + ':'
c.request('PATCH', loc, body=data[off:], headers=dict(auth, **{'Upload-Offset': str(off), 'Upload-Complete': '?1', 'Content-Type': 'application/partial-upload', 'Repr-Digest': digest}))
r = c.getresponse(); body = r.read()
assert r.status == 201, (r.status, body)
print('ok', r.getheader('Upload-Offset'))
)PY";
    auto r = run_process({"python3", "-c", script, std::to_string(rx.port()), rx.token(), blob.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "ok 200000\n");
    CHECK(read_file(rx.store() / "eq1" / "py.tar.zst") == read_file(blob));
}

TEST_CASE("resumable upload: a PATCH without a body completes an upload of unknown length (syncd's stream)",
          "[receiver][upload]") {
    receiver_options o;
    o.extra_args = {"--max-body", "100K"};
    receiver_fixture rx(o);
    temp_dir tmp;
    auto archive = make_run_archive(tmp.path(), false, 300000);
    const auto size = fs::file_size(archive);
    upload_client c(rx);
    auto created = c.create("eq1", "run-zero");  // no Upload-Length: the sender packs while it sends
    REQUIRE(created.status == 201);
    const auto location = created.header("location");
    for (std::uint64_t at = 0; at < size;) {  // every byte as ?0 parts
        const std::uint64_t to = std::min<std::uint64_t>(size, at + 100 * 1024);
        auto r = c.patch(location, archive, at, to, false);
        REQUIRE(r.status == 204);
        at = to;
    }
    auto done = c.patch(location, archive, size, size, true, {repr_digest_header(archive)});
    INFO(done.body);
    REQUIRE(done.status == 201);
    CHECK(done.offset() == size);
    CHECK(nlohmann::json::parse(done.body)["sha256"] == sha256_of_file(archive));
    CHECK(read_file(rx.store() / "eq1" / "run-zero.tar.zst") == read_file(archive));
}

TEST_CASE(
    "member check: zstd frames spanning PATCH parts are checked, a damaged one is 422 naming its member",
    "[receiver][upload][member]") {
    auto threads = GENERATE(as<std::string>{}, "2", "3");  // pipelined (default); frames in parallel
    receiver_options options;
    options.extra_args = {"--check-threads", threads};
    receiver_fixture rx(options);
    temp_dir tmp;
    make_blob(tmp.path() / "run" / "a.bin", 20u << 20, 9);  // two frames (one per 16 MiB of input)
    write_file(tmp.path() / "run" / "done.marker", "");
    const auto archive = tmp.path() / "run.tar.zst";
    auto packed = labsync::verifier::pack_run(tmp.path() / "run", archive);
    INFO(packed.error_message);
    REQUIRE(packed.ok());
    std::string bytes = read_file(archive);
    const std::size_t first_frame = ZSTD_findFrameCompressedSize(bytes.data(), bytes.size());
    REQUIRE_FALSE(ZSTD_isError(first_frame));
    REQUIRE(first_frame < bytes.size());
    // Parts of 3 MiB: every frame starts in one part and ends in another.
    auto upload = [&](const std::string& run, const fs::path& file) {
        upload_client c(rx);
        const auto size = fs::file_size(file);
        auto created = c.create("eq1", run, size);
        REQUIRE(created.status == 201);
        const auto location = created.header("location");
        const std::uint64_t part = 3u << 20;
        std::uint64_t at = 0;
        for (; size - at > part; at += part)
            REQUIRE(c.patch(location, file, at, at + part, false).status == 204);
        return c.patch(location, file, at, size, true, {repr_digest_header(file)});
    };
    CHECK(upload("run-parts", archive).status == 201);
    CHECK(read_file(rx.store() / "eq1" / "run-parts.tar.zst") == bytes);
    // One flipped byte in the second frame (noise: a raw block, caught by the frame's checksum).
    bytes[first_frame + (bytes.size() - first_frame) / 2] ^= 0x04;
    write_file(tmp.path() / "damaged.tar.zst", bytes);
    auto bad = upload("run-damaged", tmp.path() / "damaged.tar.zst");
    CHECK(bad.status == 422);
    INFO(bad.body);
    CHECK(bad.body.find("archive member a.bin: zstd") != std::string::npos);
    CHECK_FALSE(fs::exists(rx.store() / "eq1" / "run-damaged.tar.zst"));
}
