// http_put against the real syncd-receiver (started by the receiver fixture on port 0 with
// certificates generated at test time): status mapping end to end, keep-alive, outbox reuse,
// the rate-limiter hook, TLS trust failures and `syncd put --json`.
#include "http_put_harness.hpp"

#include "labsync/transports/http_status.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include "process.hpp"
#include "receiver_fixture.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <boost/asio/thread_pool.hpp>

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace labsync;
using labsync::test::driver_harness;
using labsync::test::make_run;
using labsync::test::request_for;
using labsync::transports::error_kind;

namespace {

test::receiver_options tls_options() {
    test::receiver_options o;
    o.tls = true;
    return o;
}

// A TLS receiver and a driver config trusting its CA with eq1's bearer token.
transports::http_put_config config_for(const test::receiver_fixture& rx, const test::temp_dir& t) {
    auto token = t / "token";
    if (!fs::exists(token)) test::write_file(token, rx.token() + "\n");
    transports::http_put_config c;
    c.url = rx.url();
    c.ca_file = rx.pki().ca_cert;
    c.token_file = token;
    c.outbox = t / "outbox";
    c.zstd_level = 1;
    c.connect_timeout = std::chrono::seconds(5);
    c.io_timeout = std::chrono::seconds(10);
    return c;
}

struct stat_id {
    ino_t ino = 0;
    timespec mtime{};
};

stat_id stat_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return {st.st_ino, st.st_mtim};
}

}  // namespace

TEST_CASE("http_put over TLS with CA and bearer: 201, probe agrees, re-push 200 on the same connection",
          "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-001", 3, 300'000, 1);
    driver_harness h(config_for(rx, t));
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "run-001");

    auto before = h.probe(req);
    REQUIRE(before.status.ok);
    CHECK_FALSE(before.present);

    std::uint64_t last_done = 0, total = 0;
    req.on_progress = [&](std::uint64_t done, std::uint64_t all) {
        CHECK(done > last_done);
        last_done = done;
        total = all;
    };
    auto first_push = h.push_with_proof(req);
    const auto& first = first_push.status;
    INFO(first.message);
    REQUIRE(first.ok);
    CHECK(first.returncode == 201);
    CHECK(last_done == total);
    auto shipped = first_push.archive_sha256;
    REQUIRE(shipped);
    // The receiver's 201 names the sha256 of the bytes it received and fsynced: the push's proof.
    REQUIRE(first_push.evidence);
    CHECK(first_push.evidence->present);
    CHECK(first_push.evidence->archive_sha256 == shipped);
    CHECK(first_push.bytes_moved == total);
    CHECK(fs::file_size(rx.store() / "eq1" / "run-001.tar.zst") == total);
    CHECK_FALSE(fs::exists(h.driver().outbox_path("eq1", "run-001")));  // streamed: no outbox copy

    auto probe = h.probe(req);
    REQUIRE(probe.status.ok);
    CHECK(probe.present);
    CHECK(probe.archive_sha256 == shipped);

    auto again_push = h.push_with_proof(req);
    const auto& again = again_push.status;
    INFO(again.message);
    CHECK(again.ok);
    CHECK(again.returncode == 200);
    CHECK(h.driver().connections_opened() == 1);  // kept alive across probe, push, probe, push
    // A 200 (already stored, re-hashed by the receiver) proves the same sha; no body was sent.
    REQUIRE(again_push.evidence);
    CHECK(again_push.evidence->archive_sha256 == shipped);
    CHECK(again_push.bytes_moved == 0);

    CHECK(h.driver().release("eq1", "run-001").empty());
    CHECK_FALSE(fs::exists(h.driver().outbox_path("eq1", "run-001")));
}

TEST_CASE("http_put: the probe proves the stored bytes - a byte flipped on the receiver is hash_mismatch",
          "[http_put][verify]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-011", 2, 200'000, 11);
    driver_harness h(config_for(rx, t));
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "run-011");
    auto pushed = h.push(req);
    INFO(pushed.message);
    REQUIRE(pushed.ok);
    REQUIRE(h.probe(req).status.ok);

    // Same size, one bit different, the sidecar untouched.
    const auto stored = rx.store() / "eq1" / "run-011.tar.zst";
    auto data = test::read_file(stored);
    data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x01);
    test::write_file(stored, data);

    auto probe = h.probe(req);
    INFO(probe.status.message);
    CHECK_FALSE(probe.status.ok);
    CHECK(probe.status.kind == error_kind::hash_mismatch);
    CHECK(probe.status.returncode == 409);
    CHECK_THAT(probe.status.message, Catch::Contains("stored_bytes_mismatch"));
    CHECK_FALSE(probe.present);

    // Re-shipping repairs the stored copy; the probe proves it again.
    auto reship = h.push_with_proof(req);
    INFO(reship.status.message);
    CHECK(reship.status.ok);
    auto after = h.probe(req);
    CHECK(after.status.ok);
    CHECK(after.archive_sha256 == reship.archive_sha256);
}

TEST_CASE("http_put: divergent content under the same run id is a conflict", "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    auto run = t / "runs" / "run-002";
    make_run(run, 1, 10'000, 2);
    driver_harness h(config_for(rx, t));
    auto req = request_for("eq1", run);
    REQUIRE(h.push(req).ok);
    make_run(run, 1, 10'000, 3);  // same names, other bytes
    auto manifest = verifier::build_manifest(run);
    REQUIRE(manifest.ok());
    req.local_manifest = &manifest.manifest;  // the stale outbox archive must not be reused
    auto r = h.push(req);
    INFO(r.message);
    CHECK_FALSE(r.ok);
    CHECK(r.kind == error_kind::conflict);
    CHECK(r.returncode == 409);
    CHECK_THAT(r.message, Catch::Contains("/v1/runs/eq1/run-002") && Catch::Contains("409"));
}

TEST_CASE("http_put: a wrong token is auth, an unreadable token file is auth with the path", "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-003", 1, 1000, 4);
    auto config = config_for(rx, t);
    test::write_file(t / "wrong-token", "not-the-token\n");
    config.token_file = t / "wrong-token";
    driver_harness h(config);
    REQUIRE(h.created());
    auto req = request_for("eq1", t / "runs" / "run-003");
    auto r = h.push(req);
    INFO(r.message);
    CHECK(r.kind == error_kind::auth);
    CHECK((r.returncode == 401 || r.returncode == 403));
    auto p = h.probe(req);
    CHECK(p.status.kind == error_kind::auth);

    fs::remove(t / "wrong-token");
    auto gone = h.push(req);
    CHECK(gone.kind == error_kind::auth);
    CHECK_THAT(gone.message, Catch::Contains("wrong-token"));

    std::string why;
    auto missing = config;
    missing.token_file = t / "absent-token";
    boost::asio::thread_pool pool(1);
    CHECK_FALSE(transports::http_put::create(missing, pool.get_executor(), &why));
    CHECK_THAT(why, Catch::Contains("absent-token"));
    pool.join();
}

TEST_CASE("http_put: the receiver's 422 for a body that does not match the sha is hash_mismatch",
          "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-004", 1, 50'000, 5);
    auto ops = transports::default_outbox_ops();
    auto real_pack = ops.pack;
    auto real_stream = ops.stream;
    ops.stream = [real_stream](const fs::path& run, const verifier::archive_sink& sink, int level,
                               const transports::progress_fn& progress) {
        auto a = real_stream(run, sink, level, progress);
        a.sha256_hex = std::string(64, '0');  // what a corrupted read would announce
        return a;
    };
    driver_harness h(config_for(rx, t), ops);
    auto r = h.push(request_for("eq1", t / "runs" / "run-004"));
    INFO(r.message);
    CHECK(r.kind == error_kind::hash_mismatch);
    CHECK(r.returncode == 422);
}

TEST_CASE("http_put: outbox archive reused intact, re-packed when corrupt", "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    auto run = t / "runs" / "run-005";
    make_run(run, 2, 200'000, 6);
    test::counting_ops counter;
    auto config = config_for(rx, t);
    config.chunk_bytes = 64u << 10;  // parts of 64 KiB: the archive is not small (one PUT from memory)
    config.part_bytes = 64u << 10;
    driver_harness h(config, counter.ops());
    auto req = request_for("eq1", run);
    REQUIRE(h.push(req).ok);  // streamed: no outbox archive
    CHECK(*counter.packs == 1);
    auto archive = h.driver().outbox_path("eq1", "run-005");
    CHECK_FALSE(fs::exists(archive));
    // The receiver holds the run: the next push packs into the outbox and PUTs (answered before
    // the body), and the one after reuses that archive.
    REQUIRE(h.push(req).ok);
    CHECK(*counter.packs == 2);
    auto before = stat_of(archive);

    auto manifest = verifier::build_manifest(run);
    REQUIRE(manifest.ok());
    req.local_manifest = &manifest.manifest;
    auto second = h.push(req);
    INFO(second.message);
    REQUIRE(second.ok);
    CHECK(second.returncode == 200);
    CHECK(*counter.packs == 2);  // not packed again
    CHECK(*counter.checks == 1);
    auto after = stat_of(archive);
    CHECK(after.ino == before.ino);
    CHECK(after.mtime.tv_nsec == before.mtime.tv_nsec);
    CHECK_THAT(second.message, Catch::Contains("reused"));

    // Flip bytes in the middle of the archive: the check fails, the run is packed again and the
    // receiver (which holds the intact archive) answers 200 for the identical re-pack.
    {
        std::fstream f(archive, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(fs::file_size(archive) / 2));
        f.write("\xde\xad\xbe\xef", 4);
    }
    auto third_push = h.push_with_proof(req);
    const auto& third = third_push.status;
    INFO(third.message);
    REQUIRE(third.ok);
    CHECK(third.returncode == 200);
    CHECK(*counter.packs == 3);
    CHECK(third_push.archive_sha256 == h.probe(req).archive_sha256);
}

TEST_CASE("http_put: the rate limiter is asked before every chunk and slows the stream", "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-006", 4, 1'000'000, 7);  // ~4 MB, incompressible
    driver_harness h(config_for(rx, t));
    auto req = request_for("eq1", t / "runs" / "run-006");
    test::pacing_limiter limiter(2'000'000.0);  // 2 MB/s
    req.limiter = &limiter;
    auto start = std::chrono::steady_clock::now();
    auto r = h.push(req);
    auto elapsed = std::chrono::steady_clock::now() - start;
    INFO(r.message);
    REQUIRE(r.ok);
    CHECK(limiter.calls() >= 4);
    CHECK(elapsed >= std::chrono::milliseconds(1500));
}

TEST_CASE("http_put: mTLS with a required client certificate, given and missing", "[http_put]") {
    test::temp_dir t;
    auto options = tls_options();
    options.require_client_cert = true;
    test::receiver_fixture rx(options, LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-007", 1, 5000, 8);
    auto req = request_for("eq1", t / "runs" / "run-007");

    auto with_cert = config_for(rx, t);
    with_cert.client_cert = rx.pki().client_cert;
    with_cert.client_key = rx.pki().client_key;
    driver_harness good(with_cert);
    REQUIRE(good.created());
    auto ok = good.push(req);
    INFO(ok.message);
    CHECK(ok.ok);

    driver_harness bare(config_for(rx, t));
    auto refused = bare.push(req);
    INFO(refused.message);
    CHECK_FALSE(refused.ok);
    CHECK(refused.kind == error_kind::auth);
}

TEST_CASE("http_put: an untrusted server certificate is auth (terminal misconfiguration)", "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-008", 1, 5000, 9);
    auto config = config_for(rx, t);
    config.ca_file = rx.pki().foreign_ca_cert;  // a CA that did not sign the server certificate
    driver_harness h(config);
    REQUIRE(h.created());
    auto r = h.push(request_for("eq1", t / "runs" / "run-008"));
    INFO(r.message);
    CHECK(r.kind == error_kind::auth);
    CHECK_THAT(r.message, Catch::Contains("server certificate not trusted"));
}

TEST_CASE("http_put: nothing listening is network, with the url in the message", "[http_put]") {
    test::temp_dir t;
    make_run(t / "runs" / "run-009", 1, 100, 10);
    transports::http_put_config config;
    config.url = "http://127.0.0.1:" + std::to_string(test::free_tcp_port());
    config.outbox = t / "outbox";
    driver_harness h(config);
    REQUIRE(h.created());
    auto r = h.push(request_for("eq1", t / "runs" / "run-009"));
    CHECK(r.kind == error_kind::network);
    CHECK_THAT(r.message, Catch::Contains(config.url) && Catch::Contains("refused"));
    auto p = h.probe(request_for("eq1", t / "runs" / "run-009"));
    CHECK(p.status.kind == error_kind::network);
}

TEST_CASE("syncd put --json ships, verifies and reports", "[http_put]") {
    test::temp_dir t;
    test::receiver_fixture rx(tls_options(), LABSYNC_RECEIVER);
    make_run(t / "runs" / "run-010", 2, 100'000, 11);
    test::write_file(t / "token", rx.token() + "\n");
    std::vector<std::string> argv{LABSYNC_SYNCD,  "put",
                                  "--url",        rx.url(),
                                  "--equipment",  "eq1",
                                  "--token-file", (t / "token").string(),
                                  "--ca",         rx.pki().ca_cert.string(),
                                  "--outbox",     (t / "outbox").string(),
                                  "--level",      "1",
                                  "--json",       (t / "runs" / "run-010").string()};
    auto r = test::run_process(argv);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    auto doc = nlohmann::json::parse(r.out);
    CHECK(doc["ok"] == true);
    CHECK(doc["error_kind"] == "none");
    CHECK(doc["returncode"] == 201);
    CHECK(doc["verified"] == true);
    CHECK(doc["run"] == "run-010");
    CHECK(doc["shipped_sha256"] == doc["remote_sha256"]);
    CHECK(doc["shipped_sha256"].get<std::string>().size() == 64);

    // A wrong token: exit 1 and the kind in the JSON.
    test::write_file(t / "bad", "nope\n");
    argv[7] = (t / "bad").string();
    auto bad = test::run_process(argv);
    CHECK(bad.exit_code == 1);
    CHECK(nlohmann::json::parse(bad.out)["error_kind"] == "auth");

    // A run directory whose name is not a valid run id: usage error.
    fs::create_directories(t / "runs" / "bad name");
    argv.back() = (t / "runs" / "bad name").string();
    auto usage = test::run_process(argv);
    CHECK(usage.exit_code == 2);
    CHECK_THAT(usage.err, Catch::Contains("bad name"));
}

TEST_CASE("http_put: 412 for a commit not allowed is rejected, a run over the body limit ships in parts",
          "[http_put]") {
    test::temp_dir t;
    auto options = tls_options();
    options.allowed_commits = std::vector<std::string>{"0123456789abcdef0123456789abcdef01234567"};
    options.extra_args = {"--max-body", "200K"};
    test::receiver_fixture rx(options, LABSYNC_RECEIVER);
    make_run(t / "runs" / "small", 1, 10'000, 12);
    make_run(t / "runs" / "big", 2, 1'000'000, 13);

    auto config = config_for(rx, t);
    config.code_commit = "fedcba9876543210fedcba9876543210fedcba98";
    driver_harness stranger(config);
    auto r = stranger.push(request_for("eq1", t / "runs" / "small"));
    INFO(r.message);
    CHECK(r.kind == error_kind::rejected);
    CHECK(r.returncode == 412);
    CHECK_THAT(r.message, Catch::Contains("412"));

    config.code_commit = "0123456789abcdef0123456789abcdef01234567";
    driver_harness allowed(config);
    auto ok = allowed.push(request_for("eq1", t / "runs" / "small"));
    INFO(ok.message);
    CHECK(ok.ok);
    // ~2 MB against a 200 KiB limit: --max-body limits one request, the upload goes in parts of
    // at most the receiver's Upload-Limit (a single PUT's 413 is covered in test_http_status).
    std::uint64_t sent = 0;
    auto req = request_for("eq1", t / "runs" / "big");
    req.on_progress = [&](std::uint64_t done, std::uint64_t) { sent = done; };
    auto big = allowed.push(req);
    INFO(big.message);
    CHECK(big.ok);
    CHECK(big.returncode == 201);
    CHECK(sent == fs::file_size(rx.store() / "eq1" / "big.tar.zst"));
}
