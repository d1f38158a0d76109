// http_put's resumable upload against the real syncd-receiver: a run larger than the receiver's
// --max-body ships in parts, and after kill -9 of the receiver mid-upload a later push (a new
// driver, as after a sender restart) re-packs, skips what the receiver holds and sends the rest;
// a receiver without uploads gets one PUT.
#include "http_put_harness.hpp"

#include "process.hpp"
#include "receiver_fixture.hpp"
#include "skip.hpp"
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
    test::receiver_fixture rx(test::small_parts(t / "store"), LABSYNC_RECEIVER);
    make_run(t / "runs" / "huge", 20, 1 << 20, 31);  // ~20 MiB, incompressible
    driver_harness h(plain_config(rx, t));
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "huge");
    auto pushed = h.push_with_proof(req);
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    const auto archive = h.driver().outbox_path("eq1", "huge");
    const auto total = fs::file_size(rx.store() / "eq1" / "huge.tar.zst");
    CHECK(total > 20u << 20);
    CHECK_FALSE(fs::exists(archive));  // streamed: no outbox copy
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
    first.emplace(test::small_parts(t / "store"), LABSYNC_RECEIVER);
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
            (void)size;                          // unknown (0) until the pack ends
            if (!killed && done >= 16u << 20) {  // at ~80 %: one part (5 %) may be in flight
                killed = true;
                ::kill(pid, SIGKILL);
            }
        };
        auto cut = h.push_with_proof(req);
        INFO(cut.status.message);
        CHECK(killed);
        CHECK_FALSE(cut.status.ok);
        CHECK(cut.status.kind == transports::error_kind::network);
        CHECK_FALSE(fs::exists(archive));  // streamed: no outbox copy
        CHECK(fs::exists(transports::upload_sidecar_path(archive)));
    }
    first.reset();
    req.on_progress = nullptr;

    // A new receiver on the same store and a new driver (a sender restart): HEAD, then the rest.
    test::receiver_fixture second(test::small_parts(t / "store"), LABSYNC_RECEIVER);
    driver_harness h(plain_config(second, t));
    REQUIRE(h.created());
    auto resumed = h.push_with_proof(req);
    INFO(resumed.status.message);
    REQUIRE(resumed.status.ok);
    total = fs::file_size(second.store() / "eq1" / "cut.tar.zst");
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

namespace {

// A receiver older than resumable uploads, as far as http_put can tell: GET 404, POST 405 with
// `Allow: GET, PUT` and no upload field, PUT honoured with Expect: 100-continue (201 + sha256).
constexpr const char* old_receiver_py = R"(import hashlib, http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, code, body, extra=()):
        data = body.encode()
        self.send_response(code)
        for k, v in extra: self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self): self.answer(404, '{"error":"not_found"}')
    def do_POST(self): self.answer(405, '{"error":"method_not_allowed"}', [("Allow", "GET, PUT")])
    def do_PUT(self):
        n = int(self.headers["Content-Length"]); h = hashlib.sha256()
        while n > 0:
            b = self.rfile.read(min(n, 1 << 20)); h.update(b); n -= len(b)
        self.answer(201, json.dumps({"sha256": h.hexdigest(), "puts": 1}))
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print("listening on", s.server_address[1], flush=True)
s.serve_forever()
)";

}  // namespace

TEST_CASE("http_put: a receiver without resumable uploads gets one PUT", "[http_put][upload]") {
    if (test::run_process({"python3", "-c", "pass"}).exit_code != 0) test::skip_test("no python3");
    test::temp_dir t;
    test::write_file(t / "old.py", old_receiver_py);
    test::child_process old({"python3", (t / "old.py").string()});
    auto line = old.wait_for_line("listening on");
    REQUIRE(line);
    const std::string port = line->substr(line->rfind(' ') + 1);
    test::write_file(t / "token", "tok\n");
    transports::http_put_config c;
    c.url = "http://127.0.0.1:" + port;
    c.token_file = t / "token";
    c.outbox = t / "outbox";
    c.zstd_level = 1;
    c.chunk_bytes = 64u << 10;  // parts of 64 KiB: the archive is not small (one PUT from memory)
    c.part_bytes = 64u << 10;
    make_run(t / "runs" / "legacy", 2, 300'000, 33);
    driver_harness h(c);
    REQUIRE(h.created());
    auto pushed = h.push_with_proof(request_for("eq1", t / "runs" / "legacy"));
    INFO(pushed.status.message);
    REQUIRE(pushed.status.ok);
    CHECK(pushed.status.returncode == 201);
    CHECK_THAT(pushed.status.message, Catch::StartsWith("PUT"));
    CHECK(pushed.bytes_moved == fs::file_size(h.driver().outbox_path("eq1", "legacy")));
    REQUIRE(pushed.evidence);
    CHECK(pushed.evidence->archive_sha256 == pushed.archive_sha256);
}
