// End to end with the real binaries: syncd run + syncd-receiver (TLS + token) on loopback.
#include "daemon_fixture.hpp"
#include "notify_listener.hpp"
#include "receiver_fixture.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <csignal>
#include <map>
#include <thread>

using namespace labsync;
using namespace labsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::size_t jobs_of(daemon_fixture& d, const std::string& run_id) {
    auto r = d.admin({.op = apps::admin_op::list});
    std::size_t n = 0;
    for (const auto& j : r.data["jobs"]) n += j["run_id"] == run_id ? 1 : 0;
    return n;
}

// A TCP listener that completes handshakes (kernel backlog) but never accepts or reads: a
// receiver wedged for good.
struct black_hole {
    int fd = -1;
    int port = 0;
    black_hole() {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd, 8) == 0);
        socklen_t len = sizeof a;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
    }
    ~black_hole() { ::close(fd); }
};

void check_arrived(daemon_fixture& d, receiver_fixture& rx, const std::string& run_id) {
    auto j = d.wait_job(run_id, state_is("cleaned"));
    REQUIRE(j);
    CHECK(jobs_of(d, run_id) == 1);  // one job: nothing duplicated
    auto record = receiver_record(rx.run_url("eq1", run_id), rx.pki().ca_cert, rx.token());
    REQUIRE(record);
    CHECK((*record)["sha256"] == (*j)["archive_sha256"]);  // what was shipped is what is stored
    CHECK_FALSE(std::filesystem::exists(d.runs_root() / run_id));
}

}  // namespace

TEST_CASE("status JSON, list, admin errors, metrics", "[e2e]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    d.start();
    d.write_run("r1", 2, 64 << 10);
    check_arrived(d, rx, "r1");

    auto perms = std::filesystem::status(d.socket()).permissions();
    CHECK((perms & std::filesystem::perms::all) ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write |
           std::filesystem::perms::group_read | std::filesystem::perms::group_write));  // 0660

    auto st = run_process({LABSYNC_SYNCD, "status", "--json", "--config", d.config_path().string()});
    REQUIRE(st.exit_code == 0);
    json s = json::parse(st.out);
    CHECK(s["version"] == 1);
    CHECK(s["daemon"]["ready"] == true);
    CHECK(s["daemon"]["pid"] == d.process().pid());
    REQUIRE(s["equipment"].size() == 1);
    CHECK(s["equipment"][0]["name"] == "eq1");
    CHECK(s["equipment"][0]["counts"].size() == 8);
    CHECK(s["equipment"][0]["counts"]["cleaned"] == 1);
    CHECK(s["totals"]["cleaned"] == 1);

    auto text = run_process({LABSYNC_SYNCD, "status", "--config", d.config_path().string()});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Contains("eq1"));

    auto list =
        run_process({LABSYNC_SYNCD, "list", "--state", "cleaned", "--json", "--socket", d.socket().string()});
    REQUIRE(list.exit_code == 0);
    CHECK(json::parse(list.out)["jobs"].size() == 1);

    auto retry = run_process({LABSYNC_SYNCD, "retry", "eq1/r1", "--socket", d.socket().string()});
    CHECK(retry.exit_code == 1);  // a cleaned job cannot be retried
    auto none = run_process({LABSYNC_SYNCD, "verify", "nope", "--socket", d.socket().string()});
    CHECK(none.exit_code == 1);
    CHECK_THAT(none.err, Catch::Contains("no_job"));
    auto unreachable =
        run_process({LABSYNC_SYNCD, "status", "--socket", (d.dir() / "nothing.sock").string()});
    CHECK(unreachable.exit_code == 4);
    CHECK_THAT(unreachable.err, Catch::Contains("is the daemon running"));

    auto metrics = run_process({"curl", "-sS", "--fail", "http://" + d.metrics_address() + "/metrics"});
    REQUIRE(metrics.exit_code == 0);
    CHECK_THAT(metrics.out, Catch::Contains("labsync_jobs{equipment=\"eq1\",state=\"cleaned\"} 1"));
    CHECK_THAT(metrics.out, Catch::Contains("labsync_verified_jobs_total{equipment=\"eq1\"} 1"));
    CHECK_THAT(metrics.out, Catch::Contains("labsync_watchdog_stalled 0"));

    // A second daemon on the same state dir is refused; an invalid config never starts.
    auto second = run_process({LABSYNC_SYNCD, "run", "--config", d.config_path().string()});
    CHECK(second.exit_code == 1);
    CHECK_THAT(second.err, Catch::Contains("cannot start"));
    write_file(d.dir() / "bad.toml", "[global]\nstate_dir = \"x\"\nbogus = 1\n");
    auto bad = run_process({LABSYNC_SYNCD, "run", "--config", (d.dir() / "bad.toml").string()});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("bad.toml:3:1: global.bogus: unknown key"));

    auto stopped = d.stop(SIGTERM);
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
}

TEST_CASE("SIGTERM mid-upload exits 0 quickly and a restart resumes and completes", "[e2e]") {
    receiver_fixture rx(tls_receiver());
    auto options = to(rx);
    // ~4 s for the run (the driver sends 1 MiB chunks): long enough to stop it mid-upload.
    options.bandwidth = "1M";
    daemon_fixture d(options);
    d.start();
    d.write_run("r1", 4, 1 << 20);
    REQUIRE(wait_mid_upload(d, "r1"));
    auto begin = std::chrono::steady_clock::now();
    auto stopped = d.stop(SIGTERM);
    auto took = std::chrono::steady_clock::now() - begin;
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
    CHECK(took < 30s);
    CHECK_THAT(d.stderr_text(), Catch::Contains("SIGTERM: stopping"));

    options.bandwidth = "";
    d.rewrite(options);
    d.start();
    check_arrived(d, rx, "r1");
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}

TEST_CASE("kill -9 mid-upload then a restart completes with nothing lost or duplicated", "[e2e]") {
    receiver_fixture rx(tls_receiver());
    auto options = to(rx);
    options.bandwidth = "1M";
    daemon_fixture d(options);
    d.start();
    d.write_run("r1", 4, 1 << 20);
    d.write_run("r2", 1, 100 << 10);
    REQUIRE(wait_mid_upload(d, "r1"));
    auto killed = d.stop(SIGKILL);
    REQUIRE(killed);
    CHECK(killed->signal == SIGKILL);

    options.bandwidth = "";
    d.rewrite(options);
    d.start();  // the stale admin socket and the store lock of the killed process are taken over
    check_arrived(d, rx, "r1");
    check_arrived(d, rx, "r2");
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}

TEST_CASE("SIGHUP adds an equipment and a bad config is refused while the old one keeps running", "[e2e]") {
    receiver_fixture rx(tls_receiver());
    auto options = to(rx);
    daemon_fixture d(options);
    d.start();

    write_file(d.dir() / "lab-token", std::string(receiver_options::lab_token) + "\n");
    std::filesystem::create_directories(d.runs_root("lab-2"));
    options.extra_equipment = fmt::format(
        "[equipment.lab-2]\nruns_root = \"{}\"\nsettle = \"0s\"\nretention = "
        "\"0s\"\n[equipment.lab-2.transport]\n"
        "kind = \"http_put\"\nurl = \"{}\"\nca_file = \"{}\"\ntoken_file = \"{}\"\n",
        d.runs_root("lab-2").string(), rx.url(), rx.pki().ca_cert.string(), (d.dir() / "lab-token").string());
    d.rewrite(options);
    ::kill(d.process().pid(), SIGHUP);
    bool added = false;
    for (int i = 0; i < 200 && !added; ++i) {
        try {
            json s = d.status();  // named: a range-for over a temporary's member would dangle
            for (const auto& e : s["equipment"]) added = added || e["name"] == "lab-2";
        } catch (const std::exception& e) {
            WARN(e.what());
        }
        if (!added) std::this_thread::sleep_for(50ms);
    }
    INFO(d.stderr_text());
    REQUIRE(added);
    d.write_run("l1", 1, 10 << 10, "lab-2");
    REQUIRE(d.wait_job("l1", state_is("cleaned")));

    options.extra_global = "bogus_key = 1";
    d.rewrite(options);
    ::kill(d.process().pid(), SIGHUP);
    bool refused = false;
    for (int i = 0; i < 200 && !refused; ++i) {
        refused = d.stderr_text().find("reload refused") != std::string::npos;
        if (!refused) std::this_thread::sleep_for(50ms);
    }
    REQUIRE(refused);
    CHECK_THAT(d.stderr_text(), Catch::Contains("global.bogus_key: unknown key"));
    REQUIRE(d.process().running());
    d.write_run("r9", 1, 10 << 10);  // the previous configuration still ships
    check_arrived(d, rx, "r9");
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}

TEST_CASE("systemd notify: READY, STATUS and WATCHDOG while healthy", "[e2e][watchdog]") {
    receiver_fixture rx(tls_receiver());
    temp_dir t;
    notify_listener notify(t / "notify.sock");
    auto options = to(rx);
    options.env = {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "600000"}};
    daemon_fixture d(options);
    d.start();
    auto ready = notify.wait_for("READY=1", 5s);
    REQUIRE(ready);
    CHECK_THAT(ready->text, Catch::Contains("STATUS=queued 0"));
    REQUIRE(notify.wait_for("WATCHDOG=1", 3s, ready->at));
    d.write_run("r1", 1, 10 << 10);
    check_arrived(d, rx, "r1");
    // Still pinging after the job finished.
    REQUIRE(notify.wait_for("WATCHDOG=1", 3s, std::chrono::steady_clock::now()));
    CHECK(d.stop(SIGTERM)->exit_code == 0);
    CHECK(notify.wait_for("STOPPING=1", 3s));
}

TEST_CASE("a wedged transport stops WATCHDOG=1 and SIGTERM still exits 0 in time", "[e2e][watchdog]") {
    black_hole hole;
    temp_dir t;
    notify_listener notify(t / "notify.sock");
    daemon_options options;
    options.url = fmt::format("http://127.0.0.1:{}", hole.port);
    options.watchdog_stall = "2s";
    options.extra_global = "shutdown_grace = \"3s\"";
    options.env = {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "600000"}};
    daemon_fixture d(options);
    d.start();
    REQUIRE(notify.wait_for("WATCHDOG=1", 3s));
    d.write_run("r1", 4, 1 << 20);
    REQUIRE(d.wait_job("r1", state_is("running"), 20s));
    auto stalled = notify.wait_for("STALLED", 15s);
    REQUIRE(stalled);
    // From the stall on, no more pings: systemd would restart the daemon.
    CHECK_FALSE(notify.wait_for("WATCHDOG=1", 1500ms, stalled->at + 1ms));
    auto metrics = run_process({"curl", "-sS", "--fail", "http://" + d.metrics_address() + "/metrics"});
    CHECK_THAT(metrics.out, Catch::Contains("labsync_watchdog_stalled 1"));
    CHECK_THAT(d.stderr_text(), Catch::Contains("withholding WATCHDOG=1"));
    auto begin = std::chrono::steady_clock::now();
    auto stopped = d.stop(SIGTERM);
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
    CHECK(std::chrono::steady_clock::now() - begin < 10s);
}

TEST_CASE("syncd verify proves the stored bytes: a flipped byte is reported and re-shipped, never deleted",
          "[e2e][verify]") {
    receiver_fixture rx(tls_receiver());
    auto o = to(rx);
    o.retention = "30d";
    daemon_fixture d(o);
    d.start();
    const auto run = d.write_run("r-flip", 2, 100'000);
    auto shipped = d.wait_job("r-flip", state_is("verified"));
    REQUIRE(shipped);
    const auto sha = (*shipped)["archive_sha256"].get<std::string>();

    const auto stored = rx.store() / "eq1" / "r-flip.tar.zst";
    auto data = read_file(stored);
    data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x01);
    write_file(stored, data);
    // The receiver's record (the plain GET) still matches: only a re-hash can tell.
    auto record = receiver_record(rx.run_url("eq1", "r-flip"), rx.pki().ca_cert, rx.token());
    REQUIRE(record);
    CHECK((*record)["sha256"] == sha);

    auto verify = run_process({LABSYNC_SYNCD, "verify", "eq1/r-flip", "--socket", d.socket().string()});
    INFO(verify.out << verify.err);
    CHECK(verify.exit_code == 0);
    // The proof fails on the receiver's re-hash, the run is re-shipped once, the receiver
    // replaces the damaged copy, and the run is verified again; the local run is kept (retention
    // 30 days) and was never deleted.
    REQUIRE(d.wait_job(
        "r-flip", [](const json& j) { return j["state"] == "verified" && j["attempts"].get<int>() >= 2; }));
    // The daemon reported the mismatch as such (the receiver's 409, not a "not found").
    CHECK_THAT(d.stderr_text(), Catch::Contains("hash_mismatch") && Catch::Contains("stored_bytes_mismatch"));
    CHECK(std::filesystem::exists(run));
    CHECK(read_file(stored) != data);
    auto after = receiver_record(rx.run_url("eq1", "r-flip"), rx.pki().ca_cert, rx.token());
    REQUIRE(after);
    CHECK((*after)["sha256"] == sha);
    auto m = run_process({"curl", "-sS", "--cacert", rx.pki().ca_cert.string(), rx.url() + "/metrics"});
    CHECK_THAT(m.out, Catch::Contains("labsync_receiver_verify_mismatch_total 1"));
}

TEST_CASE("a run dated in the future is named in status and doctor, past 2262 it still waits",
          "[e2e][doctor]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    const auto set_mtime = [](const std::filesystem::path& file, std::int64_t seconds) {
        const timespec times[2] = {{seconds, 0}, {seconds, 0}};
        REQUIRE(::utimensat(AT_FDCWD, file.c_str(), times, 0) == 0);
    };
    const auto now_s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    const auto tomorrow = d.write_run("run-7", 1, 4 << 10);
    set_mtime(tomorrow / "data-0.bin", now_s + 86400);
    const auto far = d.write_run("run-far", 1, 4 << 10);
    set_mtime(far / "data-0.bin", 10'413'792'000);  // 2300-01-01: past the int64 nanosecond range
    d.start();
    d.write_run("r-now", 1, 4 << 10);
    check_arrived(d, rx, "r-now");  // the rescan has looked at every run by now

    auto st = run_process({LABSYNC_SYNCD, "status", "--json", "--config", d.config_path().string()});
    REQUIRE(st.exit_code == 0);
    json s = json::parse(st.out);
    INFO(s.dump());
    std::map<std::string, std::string> reasons;
    for (const auto& w : s["equipment"][0]["waiting"]) reasons[w["run_id"]] = w["reason"];
    CHECK(reasons["run-7"] == "mtime 1 day in the future, waiting");
    CHECK_THAT(reasons["run-far"], Catch::Contains("years in the future, waiting"));
    CHECK(jobs_of(d, "run-7") == 0);
    CHECK(jobs_of(d, "run-far") == 0);  // not read as 1715 and shipped at once
    CHECK(std::filesystem::exists(far / "data-0.bin"));

    auto text = run_process({LABSYNC_SYNCD, "status", "--config", d.config_path().string()});
    CHECK_THAT(text.out, Catch::Contains("run-7: mtime 1 day in the future, waiting"));

    auto doctor = run_process({LABSYNC_SYNCD, "doctor", "--config", d.config_path().string()});
    INFO(doctor.out << doctor.err);
    CHECK(doctor.exit_code != 0);
    CHECK_THAT(doctor.out, Catch::Contains("run-7: mtime 1 day in the future, waiting"));
    CHECK_THAT(doctor.out, Catch::Contains("run-far: mtime"));
}
