// The rclone driver against a local-directory remote and against the private sshd (sftp).
#include "labsync/transports/rclone.hpp"
#include "labsync/transports/rclone_commands.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include "driver_harness.hpp"
#include "process.hpp"
#include "sshd_fixture.hpp"

#include <boost/asio/thread_pool.hpp>
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace fs = std::filesystem;
using namespace labsync::transports;
using labsync::test::drive;

namespace {

struct rclone_case {
    labsync::test::temp_dir local;
    boost::asio::thread_pool cpu{1};
    std::vector<std::string> notices;
    ~rclone_case() { cpu.join(); }

    rclone_config local_remote() {
        labsync::test::write_file(local / "rclone.conf", "[store]\ntype = local\n");
        fs::create_directories(local / "store");
        rclone_config c;
        c.config_file = local / "rclone.conf";
        c.remote = "store:" + (local / "store").string();
        c.log = [this](std::string_view t) { notices.emplace_back(t); };
        return c;
    }
    rclone_config sftp_remote(const std::string& name, const fs::path& key, const fs::path& known,
                              int port = 0) {
        auto& sshd = labsync::test::shared_sshd();
        const auto dest = sshd.make_dest("rclone-" + name);
        labsync::test::write_file(
            local / "rclone.conf",
            "[nas]\ntype = sftp\nhost = 127.0.0.1\nport = " + std::to_string(port ? port : sshd.port()) +
                "\nuser = " + sshd.user() + "\nkey_file = " + key.string() + "\nknown_hosts_file = " +
                known.string() + "\nshell_type = unix\nmd5sum_command = md5sum\nsha1sum_command = sha1sum\n");
        rclone_config c;
        c.config_file = local / "rclone.conf";
        c.remote = "nas:" + dest.string();
        c.connect_timeout = std::chrono::seconds(5);
        c.log = [this](std::string_view t) { notices.emplace_back(t); };
        return c;
    }
    std::unique_ptr<rclone> driver(const rclone_config& c) {
        std::string why;
        auto d = rclone::create(c, cpu.get_executor(), &why);
        if (!d) FAIL(why);
        return d;
    }
};

push_request request_for(const fs::path& run) {
    return labsync::test::push_request_for(run, "seq-1");
}

}  // namespace

TEST_CASE("rclone paths, argv and parsers", "[rclone][commands]") {
    auto p = make_rclone_paths("nas:base/", "eq", "r1");
    CHECK(p.final_dir == "nas:base/eq/r1");
    CHECK(p.staging_dir == "nas:base/eq/.labsync-staging/r1");
    CHECK(make_rclone_paths("s3:", "eq", "r1").final_dir == "s3:eq/r1");
    rclone_config c;
    c.config_file = "/etc/x.conf";
    auto argv = rclone_argv(c, {"lsf", "a:"});
    CHECK(argv[0] == "rclone");
    CHECK(argv[1] == "lsf");
    CHECK(std::find(argv.begin(), argv.end(), "/etc/x.conf") != argv.end());
    CHECK(std::find(argv.begin(), argv.end(), "--use-json-log") != argv.end());
    CHECK(features_have_sha256(R"({"Hashes":["md5","sha256"]})") == true);
    CHECK(features_have_sha256(R"({"Hashes":["md5"]})") == false);
    CHECK_FALSE(features_have_sha256("nope").has_value());
    // (Progress now comes from core/stats answers: test_rclone_rc.cpp.)
    CHECK(rclone_bwlimit(0) == "off");
    CHECK(rclone_bwlimit(1048576) == "1048576B");
    CHECK(parse_rclone_rc_url(
              R"({"level":"warning","msg":"Serving remote control on http://127.0.0.1:33715/"})") ==
          "http://127.0.0.1:33715/");
    CHECK_FALSE(
        parse_rclone_rc_url(R"({"level":"warning","msg":"Serving remote control on http://10.0.0.1:1/"})"));
    CHECK_FALSE(parse_rclone_rc_url(R"j({"level":"info","msg":"Copied (new)"})j"));
    auto rc = rclone_rc_bwlimit_argv(c, "http://127.0.0.1:1/", 4096);
    CHECK(rc[1] == "rc");
    CHECK(rc.back() == "rate=4096B");
    for (const auto& a : rclone_rc_serve_flags()) CHECK(a.find("pass") == std::string::npos);
}

TEST_CASE("rclone to a local remote: ship, verify, idempotent, conflict, altered", "[rclone]") {
    rclone_case t;
    auto d = t.driver(t.local_remote());
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto local = labsync::test::local_manifest(run);
    auto req = request_for(run);
    req.local_manifest = &local;
    std::uint64_t last_done = 0;
    req.on_progress = [&](std::uint64_t done, std::uint64_t) { last_done = done; };
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message << " | " << r.stderr_text);
    REQUIRE(r.ok);
    CHECK(last_done == local.total_bytes());
    auto p = drive([&] { return d->probe(req); });
    REQUIRE(p.status.ok);
    REQUIRE(p.present);
    CHECK(p.remote_manifest->to_sha256sum() == local.to_sha256sum());
    CHECK(t.notices.empty());  // the local backend hashes SHA-256 itself
    CHECK(fs::exists(t.local / "store/seq-1/run-001/images/frame 0001.raw"));
    CHECK_FALSE(fs::exists(t.local / "store/seq-1/.labsync-staging/run-001"));

    auto again = drive([&] { return d->push(req); }).status;
    CHECK(again.ok);
    CHECK(again.message.find("identical") != std::string::npos);

    labsync::test::write_file(t.local / "store/seq-1/run-001/meta.json", "tampered");
    p = drive([&] { return d->probe(req); });
    REQUIRE(p.remote_manifest);
    CHECK_FALSE(labsync::verifier::same_files(*p.remote_manifest, local));
    auto conflict = drive([&] { return d->push(req); }).status;
    CHECK(conflict.kind == error_kind::conflict);
    CHECK(labsync::test::read_file(t.local / "store/seq-1/run-001/meta.json") == "tampered");

    const auto absent = request_for(t.local / "run-404");
    p = drive([&] { return d->probe(absent); });
    CHECK(p.status.ok);
    CHECK_FALSE(p.present);
}

TEST_CASE("rclone: every probe hashes the remote bytes now - a byte flipped in place is seen",
          "[rclone][verify]") {
    rclone_case t;
    auto d = t.driver(t.local_remote());
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto local = labsync::test::local_manifest(run);
    auto req = request_for(run);
    req.local_manifest = &local;
    REQUIRE(drive([&] { return d->push(req); }).status.ok);
    auto before = drive([&] { return d->probe(req); });
    REQUIRE(before.remote_manifest);
    REQUIRE(before.remote_manifest->to_sha256sum() == local.to_sha256sum());
    // Bit rot: one byte changes, size and mtime stay.
    const auto file = t.local / "store/seq-1/run-001/meta.json";
    const auto mtime = fs::last_write_time(file);
    auto data = labsync::test::read_file(file);
    data[2] = static_cast<char>(data[2] ^ 0x01);
    labsync::test::write_file(file, data);
    fs::last_write_time(file, mtime);
    auto after = drive([&] { return d->probe(req); });
    REQUIRE(after.status.ok);
    REQUIRE(after.remote_manifest);
    const auto entry = after.remote_manifest->find("meta.json");
    REQUIRE(entry);
    CHECK(entry->sha256 != local.find("meta.json")->sha256);
}

TEST_CASE("rclone: a leftover staging dir is made identical to the run", "[rclone]") {
    rclone_case t;
    auto c = t.local_remote();
    auto d = t.driver(c);
    const auto run = labsync::test::make_run(t.local, "run-001");
    labsync::test::write_file(t.local / "store/seq-1/.labsync-staging/run-001/stale.bin", "old attempt");
    const auto req = request_for(run);
    REQUIRE(drive([&] { return d->push(req); }).status.ok);
    auto p = drive([&] { return d->probe(req); });
    REQUIRE(p.remote_manifest);
    CHECK(labsync::verifier::same_files(*p.remote_manifest, labsync::test::local_manifest(run)));
}

TEST_CASE("rclone over sftp: ship and verify by download, said once per equipment", "[rclone][sftp]") {
    rclone_case t;
    auto& sshd = labsync::test::shared_sshd();
    auto d = t.driver(t.sftp_remote("happy", sshd.client_key(), sshd.known_hosts()));
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto req = request_for(run);
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message << " | " << r.stderr_text);
    REQUIRE(r.ok);
    auto p = drive([&] { return d->probe(req); });
    INFO(p.status.message);
    REQUIRE(p.present);
    CHECK(p.remote_manifest->to_sha256sum() == labsync::test::local_manifest(run).to_sha256sum());
    p = drive([&] { return d->probe(req); });
    CHECK(p.present);
    REQUIRE(t.notices.size() == 1);
    CHECK(t.notices[0].find("seq-1") != std::string::npos);
    CHECK(t.notices[0].find("download") != std::string::npos);
}

TEST_CASE("rclone: hashing by download takes a share of the bandwidth budget", "[rclone][sftp][bandwidth]") {
    rclone_case t;
    auto& sshd = labsync::test::shared_sshd();
    auto d = t.driver(t.sftp_remote("budget", sshd.client_key(), sshd.known_hosts()));
    labsync::test::fixed_limit limit(0);
    auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    req.limiter = &limit;
    REQUIRE(drive([&] { return d->push(req); }).status.ok);
    CHECK(limit.transfers() == 1);
    auto p = drive([&] { return d->probe(req); });
    REQUIRE(p.present);
    CHECK(limit.transfers() == 2);  // the probe downloaded the run under a lease
    CHECK(limit.running() == 0);
}

TEST_CASE("rclone: a new bandwidth share reaches the running transfer over its remote control",
          "[rclone][bandwidth]") {
    // Before, --bwlimit was fixed when rclone started: 4 MiB at 64 KiB/s took 64 s whatever the
    // budget said later.
    rclone_case t;
    auto c = t.local_remote();
    c.stats_interval = std::chrono::milliseconds(200);
    auto d = t.driver(c);
    const auto run = t.local / "run-fast";
    labsync::test::write_random(run / "big.bin", 4u << 20, 9);
    labsync::test::fixed_limit limit(64u << 10);
    auto req = request_for(run);
    req.limiter = &limit;
    bool raised = false;
    req.on_progress = [&](std::uint64_t done, std::uint64_t) {
        if (!raised && done > 0) {
            limit.set(256u << 20);
            raised = true;
        }
    };
    const auto started = std::chrono::steady_clock::now();
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message << " | " << r.stderr_text);
    REQUIRE(r.ok);
    CHECK(raised);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(15));
    CHECK(t.notices.empty());  // the rc call succeeded (a failure is logged)
    CHECK(limit.running() == 0);
    CHECK(labsync::test::processes_mentioning(run.string()) == 0);
    auto p = drive([&] { return d->probe(req); });
    REQUIRE(p.remote_manifest);
    CHECK(labsync::verifier::same_files(*p.remote_manifest, labsync::test::local_manifest(run)));
}

TEST_CASE("rclone over sftp: wrong key and unknown host key are auth, closed port is network",
          "[rclone][sftp]") {
    rclone_case t;
    auto& sshd = labsync::test::shared_sshd();
    const auto run = labsync::test::make_run(t.local, "run-001");
    const auto req = request_for(run);
    {
        auto d = t.driver(t.sftp_remote("wrongkey", sshd.other_key(), sshd.known_hosts()));
        auto r = drive([&] { return d->push(req); }).status;
        INFO(r.message);
        CHECK(r.kind == error_kind::auth);
    }
    {
        labsync::test::write_file(t.local / "empty_known_hosts", "");
        auto d = t.driver(t.sftp_remote("hostkey", sshd.client_key(), t.local / "empty_known_hosts"));
        auto r = drive([&] { return d->push(req); }).status;
        INFO(r.message);
        CHECK(r.kind == error_kind::auth);
    }
    {
        auto d = t.driver(
            t.sftp_remote("closed", sshd.client_key(), sshd.known_hosts(), labsync::test::free_tcp_port()));
        auto r = drive([&] { return d->push(req); }).status;
        INFO(r.message);
        CHECK(r.kind == error_kind::network);
    }
}

TEST_CASE("rclone: binary missing from PATH is binary_missing, named", "[rclone]") {
    rclone_case t;
    auto c = t.local_remote();
    c.path_env = (t.local / "empty-bin").string();
    fs::create_directories(c.path_env);
    auto d = t.driver(c);
    const auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    auto r = drive([&] { return d->push(req); }).status;
    CHECK(r.kind == error_kind::binary_missing);
    CHECK(r.message.find("'rclone'") != std::string::npos);
    CHECK(r.message.find("seq-1") != std::string::npos);
}

TEST_CASE("rclone: a transfer timeout stops the transfer in the daemon", "[rclone]") {
    rclone_case t;
    auto c = t.local_remote();
    c.transfer_timeout = std::chrono::milliseconds(700);
    auto d = t.driver(c);
    const auto run = t.local / "run-slow";
    labsync::test::write_random(run / "big.bin", 4u << 20, 5);
    labsync::test::fixed_limit limit(64u << 10);
    auto req = request_for(run);
    req.limiter = &limit;
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(r.kind == error_kind::network);
    CHECK(r.message.find("did not finish within 700 ms") != std::string::npos);
    CHECK(labsync::test::processes_mentioning(run.string()) == 0);
    CHECK_FALSE(fs::exists(t.local / "store/seq-1/run-slow"));
}

namespace {

// PIDs of running `rclone rcd` processes started with `config_file`.
std::vector<int> rcd_pids(const fs::path& config_file) {
    std::vector<int> out;
    for (const auto& e : fs::directory_iterator("/proc")) {
        const std::string pid = e.path().filename().string();
        if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream in(e.path() / "cmdline", std::ios::binary);
        std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ifstream st(e.path() / "stat");
        std::string p, comm, state;
        st >> p >> comm >> state;
        if (state != "Z" && cmd.find(std::string("rcd") + '\0') != std::string::npos &&
            cmd.find(config_file.string()) != std::string::npos)
            out.push_back(std::stoi(pid));
    }
    return out;
}

}  // namespace

TEST_CASE(
    "rclone: one rcd serves every run, killed mid-way the next job starts a new one, stopped with the "
    "driver",
    "[rclone][rcd]") {
    rclone_case t;
    const auto c = t.local_remote();
    auto d = t.driver(c);
    CHECK(rcd_pids(c.config_file).empty());  // started lazily
    auto push_and_probe = [&](const std::string& id) {
        const auto run = labsync::test::make_run(t.local, id);
        const auto req = request_for(run);
        auto r = drive([&] { return d->push(req); }).status;
        INFO(id << ": " << r.message);
        REQUIRE(r.ok);
        auto p = drive([&] { return d->probe(req); });
        REQUIRE(p.remote_manifest);
        CHECK(p.remote_manifest->to_sha256sum() == labsync::test::local_manifest(run).to_sha256sum());
    };
    push_and_probe("run-001");
    const auto first = rcd_pids(c.config_file);
    REQUIRE(first.size() == 1);
    push_and_probe("run-002");
    CHECK(rcd_pids(c.config_file) == first);  // the same daemon, no new process per run

    // Killed while a transfer runs: the call in flight is sent again to a new daemon (sync makes
    // the staging directory identical), so that push still completes; the next job works too.
    const auto slow = t.local / "run-slow";
    labsync::test::write_random(slow / "big.bin", 4u << 20, 7);
    labsync::test::fixed_limit limit(64u << 10);
    auto req = request_for(slow);
    req.limiter = &limit;
    bool killed = false;
    req.on_progress = [&](std::uint64_t done, std::uint64_t) {
        if (!killed && done > 0) killed = ::kill(first[0], SIGKILL) == 0;
    };
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    CHECK(killed);
    CHECK(r.ok);
    CHECK(fs::exists(t.local / "store/seq-1/run-slow/big.bin"));
    push_and_probe("run-003");
    const auto second = rcd_pids(c.config_file);
    REQUIRE(second.size() == 1);
    CHECK(second != first);

    // Killed between jobs (its exit not yet seen, or seen): the next call starts a new one.
    REQUIRE(::kill(second[0], SIGKILL) == 0);
    push_and_probe("run-004");
    const auto third = rcd_pids(c.config_file);
    REQUIRE(third.size() == 1);
    CHECK(third != second);

    d.reset();  // stopped by PID and reaped before the destructor returns
    CHECK(rcd_pids(c.config_file).empty());
    CHECK(::kill(third[0], 0) == -1);
}

TEST_CASE("rclone: an idle rcd is stopped, the next job starts a new one", "[rclone][rcd]") {
    rclone_case t;
    auto c = t.local_remote();
    c.daemon_idle = std::chrono::milliseconds(300);
    auto d = t.driver(c);
    const auto req = request_for(labsync::test::make_run(t.local, "run-001"));
    auto r = drive([&] { return d->push(req); }).status;
    INFO(r.message);
    REQUIRE(r.ok);
    // The daemon's exit is another process's event: wait for it, bounded.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!rcd_pids(c.config_file).empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(rcd_pids(c.config_file).empty());
    auto p = drive([&] { return d->probe(req); });
    REQUIRE(p.remote_manifest);
    CHECK(p.remote_manifest->to_sha256sum() == labsync::test::local_manifest(req.run_path).to_sha256sum());
}
