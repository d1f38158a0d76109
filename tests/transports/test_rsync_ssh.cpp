// rsync_ssh against a real private sshd on loopback (tests/support/sshd_fixture).
#include "labsync/transports/rsync_ssh.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include "driver_harness.hpp"
#include "process.hpp"
#include "sshd_fixture.hpp"

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fs = std::filesystem;
using namespace labsync::transports;
using labsync::test::drive;

namespace {

struct rsync_case {
    labsync::test::sshd_fixture& sshd = labsync::test::shared_sshd();
    labsync::test::temp_dir local;
    boost::asio::thread_pool cpu{1};
    fs::path dest;

    explicit rsync_case(const std::string& name) : dest(sshd.make_dest(name)) {}
    ~rsync_case() { cpu.join(); }

    rsync_ssh_config config() const {
        rsync_ssh_config c;
        c.host = sshd.host();
        c.port = static_cast<std::uint16_t>(sshd.port());
        c.user = sshd.user();
        c.identity_file = sshd.client_key();
        c.known_hosts = sshd.known_hosts();
        c.dest = dest.string();
        c.connect_timeout = std::chrono::seconds(5);
        return c;
    }
    std::unique_ptr<rsync_ssh> driver(const rsync_ssh_config& c) {
        std::string why;
        auto d = rsync_ssh::create(c, cpu.get_executor(), &why);
        if (!d) FAIL(why);
        return d;
    }
};

push_request request_for(const fs::path& run) {
    return labsync::test::push_request_for(run, "scope-1");
}

}  // namespace

TEST_CASE("rsync_ssh ships a run and the remote SHA-256 manifest matches", "[rsync][ssh]") {
    rsync_case t("happy");
    auto d = t.driver(t.config());
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto local = labsync::test::local_manifest(run);
    auto req = request_for(run);
    req.local_manifest = &local;
    std::uint64_t last_done = 0, last_total = 0;
    req.on_progress = [&](std::uint64_t done, std::uint64_t total) {
        last_done = done;
        last_total = total;
    };
    auto pushed = drive([&] { return d->push(req); }).status;
    INFO(pushed.message << " | " << pushed.stderr_text);
    REQUIRE(pushed.ok);
    CHECK(last_total == local.total_bytes());
    CHECK(last_done == local.total_bytes());
    auto probed = drive([&] { return d->probe(req); });
    REQUIRE(probed.status.ok);
    REQUIRE(probed.present);
    REQUIRE(probed.remote_manifest);
    CHECK(probed.remote_manifest->to_sha256sum() == local.to_sha256sum());
    CHECK(fs::exists(t.dest / "scope-1/run-001/images/frame 0001.raw"));
    CHECK(fs::is_empty(t.dest / "scope-1/.labsync-staging"));

    // A second run reuses the master connection; re-shipping the first is idempotent.
    const auto run2 = labsync::test::make_run(t.local, "run-002");
    auto req2 = request_for(run2);
    CHECK(drive([&] { return d->push(req2); }).status.ok);
    auto again = drive([&] { return d->push(req); }).status;
    CHECK(again.ok);
    CHECK(again.message.find("identical") != std::string::npos);
    bool socket = false;
    for (const auto& e : fs::directory_iterator(d->config().control_dir)) socket = socket || e.is_socket();
    CHECK(socket);
}

TEST_CASE("rsync_ssh: a run absent on the remote probes as not present", "[rsync][ssh]") {
    rsync_case t("absent");
    auto d = t.driver(t.config());
    const auto req = request_for(t.local / "run-x");
    auto probed = drive([&] { return d->probe(req); });
    CHECK(probed.status.ok);
    CHECK_FALSE(probed.present);
}

TEST_CASE("rsync_ssh: a remote file altered after upload shows in the probe", "[rsync][ssh]") {
    rsync_case t("altered");
    auto c = t.config();
    auto d = t.driver(c);
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto local = labsync::test::local_manifest(run);
    auto req = request_for(run);
    REQUIRE(drive([&] { return d->push(req); }).status.ok);
    t.sshd.remote_shell("echo tampered >> '" + (t.dest / "scope-1/run-001/meta.json").string() + "'");
    auto probed = drive([&] { return d->probe(req); });
    REQUIRE(probed.status.ok);
    REQUIRE(probed.remote_manifest);
    CHECK_FALSE(labsync::verifier::same_files(*probed.remote_manifest, local));
    const auto entry = probed.remote_manifest->find("meta.json");
    REQUIRE(entry);
    CHECK(entry->sha256 != local.find("meta.json")->sha256);
}

TEST_CASE("rsync_ssh: every probe hashes the remote files now - a byte flipped after the push is seen",
          "[rsync][ssh][verify]") {
    rsync_case t("flip");
    auto d = t.driver(t.config());  // default settings: nothing from the push is reused by a probe
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto local = labsync::test::local_manifest(run);
    auto req = request_for(run);
    req.local_manifest = &local;
    auto pushed = drive([&] { return d->push(req); }).status;
    INFO(pushed.message << " | " << pushed.stderr_text);
    REQUIRE(pushed.ok);
    // One byte of the stored copy changes in place (same size) after it was verified.
    const auto remote_file = t.dest / "scope-1/run-001/meta.json";
    const auto size = fs::file_size(remote_file);
    t.sshd.remote_shell("printf '\\000' | dd of='" + remote_file.string() +
                        "' bs=1 seek=2 conv=notrunc 2>/dev/null");
    REQUIRE(fs::file_size(remote_file) == size);
    auto probed = drive([&] { return d->probe(req); });
    REQUIRE(probed.status.ok);
    REQUIRE(probed.remote_manifest);
    const auto entry = probed.remote_manifest->find("meta.json");
    REQUIRE(entry);
    CHECK(entry->sha256 != local.find("meta.json")->sha256);
}

TEST_CASE("rsync_ssh: the push returns the remote manifest computed after the rename as its proof",
          "[rsync][ssh][verify]") {
    rsync_case t("proof");
    auto d = t.driver(t.config());
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto local = labsync::test::local_manifest(run);
    auto req = request_for(run);
    req.local_manifest = &local;
    auto pushed = drive([&] { return d->push(req); });
    REQUIRE(pushed.status.ok);
    REQUIRE(pushed.evidence);
    REQUIRE(pushed.evidence->remote_manifest);
    CHECK(pushed.evidence->remote_manifest->to_sha256sum() == local.to_sha256sum());
}

TEST_CASE("rsync_ssh: an existing divergent remote run is a conflict", "[rsync][ssh]") {
    rsync_case t("conflict");
    auto d = t.driver(t.config());
    const auto run = labsync::test::make_run(t.local, "run-001");
    auto req = request_for(run);
    REQUIRE(drive([&] { return d->push(req); }).status.ok);
    labsync::test::write_file(run / "meta.json", "{\"changed\":true}\n");
    const auto local = labsync::test::local_manifest(run);
    req.local_manifest = &local;
    auto r = drive([&] { return d->push(req); }).status;
    CHECK_FALSE(r.ok);
    CHECK(r.kind == error_kind::conflict);
    CHECK(labsync::test::read_file(t.dest / "scope-1/run-001/meta.json") == "{\"sample\":\"run-001\"}\n");
    CHECK(labsync::test::read_file(run / "meta.json") == "{\"changed\":true}\n");
}

TEST_CASE("rsync_ssh: wrong client key is auth", "[rsync][ssh]") {
    rsync_case t("wrongkey");
    auto c = t.config();
    c.identity_file = t.sshd.other_key();
    auto d = t.driver(c);
    const auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(r.kind == error_kind::auth);
    auto p = drive([&] { return d->probe(req); });
    CHECK(p.status.kind == error_kind::auth);
}

TEST_CASE("rsync_ssh: unknown or changed host key is auth", "[rsync][ssh]") {
    rsync_case t("hostkey");
    auto c = t.config();
    labsync::test::write_file(t.local / "empty_known_hosts", "");
    c.known_hosts = t.local / "empty_known_hosts";
    const auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    auto d = t.driver(c);
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(r.kind == error_kind::auth);
    c.known_hosts = t.sshd.wrong_known_hosts();
    d = t.driver(c);
    r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(r.kind == error_kind::auth);
}

TEST_CASE("rsync_ssh: a closed port is network", "[rsync][ssh]") {
    rsync_case t("closed");
    auto c = t.config();
    c.port = static_cast<std::uint16_t>(labsync::test::free_tcp_port());
    auto d = t.driver(c);
    const auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(r.kind == error_kind::network);
    CHECK(r.message.find("Connection refused") != std::string::npos);
}

TEST_CASE("rsync_ssh: a binary missing from PATH is binary_missing, named", "[rsync][ssh]") {
    rsync_case t("missing");
    const auto run = labsync::test::make_run(t.local, "run-001");
    auto c = t.config();
    c.path_env = (t.local / "empty-bin").string();
    fs::create_directories(c.path_env);
    const auto req = request_for(run);
    auto d = t.driver(c);
    auto r = drive([&] { return d->push(req); }).status;
    CHECK(r.kind == error_kind::binary_missing);
    CHECK(r.message.find("'ssh'") != std::string::npos);
    CHECK(r.message.find("scope-1") != std::string::npos);
    // ssh present, rsync not.
    fs::create_symlink("/usr/bin/ssh", fs::path(c.path_env) / "ssh");
    d = t.driver(c);
    r = drive([&] { return d->push(req); }).status;
    CHECK(r.kind == error_kind::binary_missing);
    CHECK(r.message.find("'rsync'") != std::string::npos);
}

TEST_CASE("rsync_ssh: a file deleted mid-transfer is local_file_vanished", "[rsync][ssh]") {
    rsync_case t("vanished");
    auto d = t.driver(t.config());
    const auto run = t.local / "run-001";
    labsync::test::write_random(run / "a.bin", 6u << 20, 1);
    labsync::test::write_random(run / "b.bin", 1u << 20, 2);
    labsync::test::fixed_limit limit(4u << 20);
    auto req = request_for(run);
    req.limiter = &limit;
    bool deleted = false;
    req.on_progress = [&](std::uint64_t, std::uint64_t) {
        if (!deleted) deleted = fs::remove(run / "b.bin");
    };
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message << " | " << r.stderr_text);
    REQUIRE(deleted);
    CHECK(r.kind == error_kind::local_file_vanished);
    CHECK(r.returncode == 24);
    CHECK_FALSE(fs::exists(t.dest / "scope-1/run-001"));  // nothing became visible
}

TEST_CASE("rsync_ssh: a transfer timeout kills the process group", "[rsync][ssh]") {
    rsync_case t("timeout");
    auto c = t.config();
    c.transfer_timeout = std::chrono::milliseconds(700);
    auto d = t.driver(c);
    const auto run = t.local / "run-slow";
    labsync::test::write_random(run / "big.bin", 4u << 20, 3);
    labsync::test::fixed_limit limit(64u << 10);
    auto req = request_for(run);
    req.limiter = &limit;
    const auto started = std::chrono::steady_clock::now();
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(r.kind == error_kind::network);
    CHECK(r.message.find("process group") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(20));
    CHECK(labsync::test::processes_mentioning(run.string()) == 0);
    CHECK_FALSE(fs::exists(t.dest / "scope-1/run-slow"));
}

TEST_CASE("rsync_ssh: invalid ids are rejected before any remote command", "[rsync][ssh]") {
    rsync_case t("ids");
    auto d = t.driver(t.config());
    auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    req.run_id = "../etc";
    CHECK(drive([&] { return d->push(req); }).status.kind == error_kind::rejected);
    req.run_id = ".hidden";
    CHECK(drive([&] { return d->probe(req); }).status.kind == error_kind::rejected);
}

TEST_CASE("rsync_ssh: a new bandwidth share restarts rsync, which continues from its partial file",
          "[rsync][ssh][bandwidth]") {
    // rsync cannot change --bwlimit while it runs: before, a share changed mid-transfer (another
    // transfer starting or ending, the timetable) was ignored until the run ended. Here the share
    // changes twice; the run then goes fast, arrives intact and nothing is left running.
    rsync_case t("reshare");
    auto d = t.driver(t.config());
    const auto run = t.local / "run-001";
    labsync::test::write_random(run / "big.bin", 3u << 20, 7);
    labsync::test::write_random(run / "small.bin", 10000, 8);
    labsync::test::fixed_limit limit(128u << 10);  // 3 MiB at 128 KiB/s: 24 s unless re-shared
    auto req = request_for(run);
    req.limiter = &limit;
    int stage = 0, lines = 0;
    req.on_progress = [&](std::uint64_t done, std::uint64_t) {
        ++lines;
        if (stage == 0 && done > 0) {
            limit.set(192u << 10);
            stage = 1;
            lines = 0;
        } else if (stage == 1 && lines >= 3) {
            limit.set(64u << 20);
            stage = 2;
        }
    };
    const auto started = std::chrono::steady_clock::now();
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message << " | " << r.stderr_text);
    REQUIRE(r.ok);
    CHECK(stage == 2);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));
    CHECK(limit.transfers() == 1);
    CHECK(limit.running() == 0);  // the lease ended with the transfer
    auto p = drive([&] { return d->probe(req); });
    REQUIRE(p.present);
    CHECK(p.remote_manifest->to_sha256sum() == labsync::test::local_manifest(run).to_sha256sum());
    CHECK(fs::is_empty(t.dest / "scope-1/.labsync-staging"));
    CHECK(labsync::test::processes_mentioning(run.string()) == 0);
}
