// The engine with the real http_put driver against a real syncd-receiver process on loopback:
// runs of two equipment end to end to `cleaned`, a receiver that is down and then comes up
// (backoff, then success), and a receiver refusing the code commit (412 -> quarantine).
#include "engine_harness.hpp"
#include "labsync/verifier/sha256.hpp"
#include "receiver_fixture.hpp"
#include "sshd_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

namespace {

struct fixture {
    test::temp_dir dir;

    engine::engine_config config(const std::string& url,
                                 std::vector<std::string> equipment = {"lab-a", "lab-b"}) {
        test::write_secret_file(dir / "token", std::string(test::receiver_options::lab_token) + "\n");
        auto c = test::engine_config_under(dir.path());
        c.backoff = {100ms, 400ms, 50};
        c.rescan_interval = 0s;
        for (const auto& name : equipment) {
            engine::equipment_config e;
            e.name = name;
            e.runs_root = dir / "runs" / name;
            e.settle = 0s;
            e.watch = false;
            e.retention = 0s;
            e.max_parallel = 2;
            std::get<transports::http_put_config>(e.transport).url = url;
            std::get<transports::http_put_config>(e.transport).token_file = dir / "token";
            std::get<transports::http_put_config>(e.transport).io_timeout = 10s;
            std::get<transports::http_put_config>(e.transport).connect_timeout = 2s;
            c.equipment.push_back(e);
        }
        return c;
    }
    fs::path make_run(const std::string& equipment, const std::string& run, std::size_t kib) {
        const auto p = dir / "runs" / equipment / run;
        std::string blob(kib * 1024, '\0');
        for (std::size_t i = 0; i < blob.size(); ++i)
            blob[i] = static_cast<char>((i * 131 + run.size() * 7) % 251);
        test::write_file(p / "raw/frame.bin", blob);
        test::write_file(p / "meta.json", R"({"run":")" + run + R"("})");
        test::write_file(p / "done.marker", "");
        return p;
    }
};

}  // namespace

TEST_CASE("integration: runs of two equipment go end to end to cleaned", "[engine][integration]") {
    test::receiver_fixture rx;
    fixture f;
    engine_runner r(f.config(rx.url()), {});
    REQUIRE_FALSE(r.open());
    r.start();
    std::vector<std::pair<fs::path, std::int64_t>> runs;
    for (const auto* eq : {"lab-a", "lab-b"})
        for (int i = 0; i < 3; ++i) {
            const auto path =
                f.make_run(eq, "run-" + std::to_string(i), 64 + 100 * static_cast<std::size_t>(i));
            auto res = r->enqueue(path);
            REQUIRE_FALSE(res.error);
            runs.emplace_back(path, res.job_id);
        }
    for (const auto& [path, id] : runs) {
        auto j = r.observer.wait_for(id, job_state::cleaned, 60s);
        INFO(path.string());
        REQUIRE(j);
        CHECK_FALSE(fs::exists(path));
        REQUIRE(j->archive_sha256);
        CHECK(j->attempts == 1);
    }
    // The receiver holds each archive; the outbox is empty again (never made: small runs go as
    // one PUT from memory, without an upload sidecar).
    for (const auto* eq : {"lab-a", "lab-b"}) {
        const auto dir = f.dir / "outbox" / eq;
        CHECK((!fs::exists(dir) || fs::is_empty(dir)));
    }
}

TEST_CASE("integration: receiver down, then up - backoff, then success", "[engine][integration]") {
    fixture f;
    const int port = test::free_tcp_port();
    const std::string url = "http://127.0.0.1:" + std::to_string(port);
    engine_runner r(f.config(url, {"lab-a"}), {});
    REQUIRE_FALSE(r.open());
    r.start();
    const auto path = f.make_run("lab-a", "late", 32);
    auto res = r->enqueue(path);
    REQUIRE_FALSE(res.error);
    // Wait until at least two network failures have been recorded.
    std::optional<queue::job> j;
    for (int i = 0; i < 500; ++i) {
        j = r->status(path);
        if (j && j->attempts >= 2 && j->last_error_kind == "network") break;
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(j);
    CHECK(j->attempts >= 2);
    CHECK(j->last_error_kind == "network");
    test::write_secret_file(f.dir / "tokens", std::string(test::receiver_options::lab_token) + " lab-*\n");
    test::child_process rx({test::receiver_fixture::default_binary(), "--listen",
                            "127.0.0.1:" + std::to_string(port), "--store", (f.dir / "store").string(),
                            "--tokens", (f.dir / "tokens").string()});
    REQUIRE(rx.wait_for_line("listening on"));
    auto done = r.observer.wait_for(res.job_id, job_state::cleaned, 60s);
    REQUIRE(done);
    CHECK(done->attempts >= 3);
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("integration: receiver answers 412 (commit not allowed) - quarantine", "[engine][integration]") {
    test::receiver_options o;
    o.allowed_commits = std::vector<std::string>{"0123456789abcdef0123456789abcdef01234567"};
    test::receiver_fixture rx(o);
    fixture f;
    auto cfg = f.config(rx.url(), {"lab-a"});
    std::get<transports::http_put_config>(cfg.equipment[0].transport).code_commit =
        "fedcba9876543210fedcba9876543210fedcba98";
    engine_runner r(cfg, {});
    REQUIRE_FALSE(r.open());
    r.start();
    const auto path = f.make_run("lab-a", "old-code", 16);
    auto res = r->enqueue(path);
    auto j = r.observer.wait_for(res.job_id, job_state::failed, 60s);
    REQUIRE(j);
    CHECK(j->last_error_kind == "rejected");
    const auto q = f.dir / "quarantine/lab-a/old-code";
    for (int i = 0; i < 300 && !fs::exists(q / "quarantine_reason.json"); ++i)
        std::this_thread::sleep_for(10ms);
    REQUIRE(fs::exists(q / "quarantine_reason.json"));
    CHECK_FALSE(fs::exists(path));
    auto reason = nlohmann::json::parse(test::read_file(q / "quarantine_reason.json"));
    CHECK(reason["status"] == 412);
    CHECK(reason["code"] == "rejected");
    CHECK(fs::exists(q / "raw/frame.bin"));
    CHECK_FALSE(fs::exists(f.dir / "outbox/lab-a/old-code.tar.zst"));
}

TEST_CASE("integration: the equipment's bandwidth limit throttles the http stream", "[engine][integration]") {
    test::receiver_fixture rx;
    fixture f;
    auto cfg = f.config(rx.url(), {"lab-a"});
    cfg.equipment[0].bandwidth = "256K";  // all day
    cfg.equipment[0].retention = std::chrono::hours(1);
    engine_runner r(cfg, {});
    REQUIRE_FALSE(r.open());
    r.start();
    // 640 KiB of incompressible bytes: about 2.2 s at 256 KiB/s after the 64 KiB burst.
    std::string blob(640 * 1024, '\0');
    std::uint64_t x = 88172645463325252ull;
    for (auto& c : blob) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c = static_cast<char>(x);
    }
    const auto path = f.dir / "runs/lab-a/big";
    test::write_file(path / "noise.bin", blob);
    test::write_file(path / "done.marker", "");
    const auto start = std::chrono::steady_clock::now();
    auto res = r->enqueue(path);
    REQUIRE(r.observer.wait_for(res.job_id, job_state::verified, 60s));
    const auto took = std::chrono::steady_clock::now() - start;
    INFO("shipping took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took >= 1800ms);
    CHECK(took < 20s);
}

TEST_CASE(
    "integration: a run over the receiver's --max-body ships in parts (resumable upload), verified, "
    "nothing quarantined",
    "[engine][integration][quarantine]") {
    // Before resumable uploads this run got 413 (the whole archive was one request); --max-body now
    // limits one request, so http_put sends parts within the receiver's Upload-Limit. The 413 answer
    // of an old receiver (one PUT) still fails as misconfigured: tests/transports/test_http_status.cpp.
    fixture f;
    const int port = test::free_tcp_port();
    auto cfg = f.config("http://127.0.0.1:" + std::to_string(port), {"lab-a"});
    cfg.quarantine_keep_days = 1;  // even with pruning on, nothing may reach the quarantine
    test::write_file(f.dir / "tokens", std::string(test::receiver_options::lab_token) + " lab-*\n");
    test::child_process rx(std::vector<std::string>{
        test::receiver_fixture::default_binary(), "--listen", "127.0.0.1:" + std::to_string(port), "--store",
        (f.dir / "store").string(), "--tokens", (f.dir / "tokens").string(), "--max-body", "4K"});
    REQUIRE(rx.wait_for_line("listening on"));
    // 64 KiB that zstd cannot shrink: far over a 4 KiB limit.
    const auto path = f.dir / "runs/lab-a/too-big";
    std::string blob(64 * 1024, '\0');
    std::uint64_t x = 0x9e3779b97f4a7c15ull;
    for (auto& c : blob) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        c = static_cast<char>(x);
    }
    test::write_file(path / "noise.bin", blob);
    test::write_file(path / "done.marker", "");

    engine_runner r(cfg, {});
    REQUIRE_FALSE(r.open());
    r.start();
    auto res = r->enqueue(path);
    REQUIRE_FALSE(res.error);
    auto done = r.observer.wait_for(res.job_id, job_state::cleaned, 60s);
    REQUIRE(done);
    CHECK(done->attempts <= 1);
    CHECK(fs::exists(f.dir / "store/lab-a/too-big.tar.zst"));
    CHECK_FALSE(fs::exists(path));
    CHECK_FALSE(fs::exists(f.dir / "quarantine/lab-a/too-big"));
    rx.stop(SIGTERM);
}

TEST_CASE(
    "integration: a byte flipped in the receiver's store after verified - cleanup refuses, "
    "hash_mismatch re-ships once",
    "[engine][integration][verify]") {
    test::receiver_fixture rx;
    fixture f;
    auto cfg = f.config(rx.url(), {"lab-a"});
    cfg.equipment[0].retention = std::chrono::hours(1);
    auto clock = std::make_shared<test::manual_clock>();
    engine::engine_deps deps;
    deps.clock = [clock] { return clock->now(); };
    engine_runner r(cfg, std::move(deps));
    REQUIRE_FALSE(r.open());
    r.start();
    const auto path = f.make_run("lab-a", "run-flip", 256);
    auto res = r->enqueue(path);
    REQUIRE_FALSE(res.error);
    auto verified = r.observer.wait_for(res.job_id, job_state::verified, 60s);
    REQUIRE(verified);
    REQUIRE(verified->archive_sha256);
    const auto shipped = *verified->archive_sha256;

    // Same size, one bit different; the receiver's sidecar still records the shipped sha256.
    const auto stored = rx.store() / "lab-a" / "run-flip.tar.zst";
    auto data = test::read_file(stored);
    data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x01);
    test::write_file(stored, data);

    clock->advance(std::chrono::hours(2));  // retention passed: cleanup would delete now
    r->request_cleanup();
    // The cleanup probe finds the mismatch: back to awaiting_verify, the verification fails with
    // hash_mismatch, the run is re-shipped once (the receiver replaces the damaged copy) and
    // verified again; the local run is never deleted on the way.
    REQUIRE(r.observer.wait_entries(res.job_id, job_state::verified, 2, 60s));
    CHECK(r.observer.entries(res.job_id, job_state::cleaned) == 0);
    CHECK(fs::exists(path / "raw/frame.bin"));
    CHECK(r.observer.entries(res.job_id, job_state::awaiting_verify) >= 3);
    bool mismatch_recorded = false;
    for (const auto& e : r->events(res.job_id))
        if (e.message.find("hash_mismatch") != std::string::npos &&
            e.message.find("stored_bytes_mismatch") != std::string::npos)
            mismatch_recorded = true;
    CHECK(mismatch_recorded);
    CHECK(verifier::to_hex(verifier::sha256::of(test::read_file(stored))) == shipped);

    // With the copy proven again, cleanup deletes once its retention has passed.
    clock->advance(std::chrono::hours(2));
    r->request_cleanup();
    REQUIRE(r.observer.wait_for(res.job_id, job_state::cleaned, 60s));
    CHECK_FALSE(fs::exists(path));
}

TEST_CASE("integration: rsync_ssh - a byte flipped in the remote copy after verified - cleanup never deletes",
          "[engine][integration][rsync][verify]") {
    auto& sshd = test::shared_sshd();
    fixture f;
    auto cfg = f.config("http://127.0.0.1:1", {"lab-a"});
    auto& e = cfg.equipment[0];
    e.retention = std::chrono::hours(1);
    auto& rsync = e.transport.emplace<transports::rsync_ssh_config>();
    rsync.host = sshd.host();
    rsync.port = sshd.port();
    rsync.user = sshd.user();
    rsync.identity_file = sshd.client_key();
    rsync.known_hosts = sshd.known_hosts();
    const auto dest = sshd.make_dest("engine-flip");
    rsync.dest = dest.string();
    auto clock = std::make_shared<test::manual_clock>();
    engine::engine_deps deps;
    deps.clock = [clock] { return clock->now(); };
    engine_runner r(cfg, std::move(deps));
    REQUIRE_FALSE(r.open());
    r.start();
    const auto path = f.make_run("lab-a", "run-flip", 64);
    auto res = r->enqueue(path);
    REQUIRE_FALSE(res.error);
    REQUIRE(r.observer.wait_for(res.job_id, job_state::verified, 60s));

    const auto remote_file = dest / "lab-a/run-flip/raw/frame.bin";
    const auto size = fs::file_size(remote_file);
    sshd.remote_shell("printf '\\000' | dd of='" + remote_file.string() +
                      "' bs=1 seek=1000 conv=notrunc 2>/dev/null");
    REQUIRE(fs::file_size(remote_file) == size);

    clock->advance(std::chrono::hours(2));
    r->request_cleanup();
    // The cleanup probe hashes the remote files now: mismatch → awaiting_verify → hash_mismatch →
    // one re-ship, which finds a different run in place (conflict, nothing overwritten) → failed.
    auto failed = r.observer.wait_for(res.job_id, job_state::failed, 60s);
    REQUIRE(failed);
    CHECK(failed->last_error_kind == "conflict");
    CHECK(r.observer.entries(res.job_id, job_state::cleaned) == 0);
    CHECK(fs::exists(path / "raw/frame.bin"));
    bool mismatch_seen = false;
    for (const auto& ev : r->events(res.job_id))
        if (ev.message.find("hash_mismatch") != std::string::npos) mismatch_seen = true;
    CHECK(mismatch_seen);
}
