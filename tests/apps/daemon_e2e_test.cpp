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

receiver_options tls_receiver() {
    receiver_options o;
    o.tls = true;
    return o;
}

daemon_options to(const receiver_fixture& rx) {
    daemon_options o;
    o.url = rx.url();
    o.ca_file = rx.pki().ca_cert;
    o.token = rx.token();
    return o;
}

auto state_is(const std::string& s) {
    return [s](const json& j) { return j["state"] == s; };
}

std::size_t jobs_of(daemon_fixture& d, const std::string& run_id) {
    auto r = d.admin({.op = apps::admin_op::list});
    std::size_t n = 0;
    for (const auto& j : r.data["jobs"]) n += j["run_id"] == run_id ? 1 : 0;
    return n;
}

// Waits until the run's job reports shipped bytes in `syncd status` (it is mid-upload).
bool wait_mid_upload(daemon_fixture& d, const std::string& run_id, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    json s;
    while (std::chrono::steady_clock::now() < deadline) {
        s = d.status();
        for (const auto& e : s["equipment"])
            for (const auto& j : e["current"])
                if (j["run_id"] == run_id && j["progress"].is_object() &&
                    j["progress"]["phase"] == "uploading" && j["progress"]["done"].get<std::uint64_t>() > 0)
                    return true;
        std::this_thread::sleep_for(50ms);
    }
    WARN("never saw " << run_id << " mid-upload; last status " << s.dump() << "\n" << d.stderr_text());
    return false;
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

TEST_CASE("doctor reports each failure of a broken setup with a hint", "[e2e][doctor]") {
    temp_dir t;
    std::filesystem::create_directories(t / "state");
    write_file(t / "state" / "jobs.db", "this is not a database, it is a text file that got here somehow\n");
    int closed_port = free_tcp_port();  // nothing listens there
    write_file(t / "broken.toml",
               fmt::format(R"([global]
state_dir = "{d}/state"
admin_socket = "{d}/s.sock"
[equipment.eq1]
runs_root = "{d}/missing-runs"
[equipment.eq1.transport]
kind = "http_put"
url = "http://127.0.0.1:{port}"
token_file = "{d}/no-such-token"
[equipment.seq]
runs_root = "{d}/runs-seq"
[equipment.seq.transport]
kind = "rsync_ssh"
host = "127.0.0.1"
user = "labsync"
key_file = "{d}/id"
known_hosts = "{d}/known_hosts"
remote_dir = "/x"
rsync_binary = "/nonexistent/rsync"
[equipment.det]
runs_root = "{d}/runs-det"
[equipment.det.transport]
kind = "rclone"
remote = "x:y"
config_file = "{d}/rclone.conf"
rclone_binary = "/nonexistent/rclone"
)",
                           fmt::arg("d", t.path().string()), fmt::arg("port", closed_port)));
    auto r = run_process(
        {LABSYNC_SYNCD, "doctor", "--config", (t / "broken.toml").string(), "--json", "--timeout", "2"});
    CHECK(r.exit_code == 1);
    json out = json::parse(r.out);
    CHECK(out["ok"] == false);
    std::map<std::string, int> failed;
    for (const auto& c : out["checks"])
        if (!c["ok"].get<bool>()) {
            failed[c["name"].get<std::string>()] += 1;
            CHECK_FALSE(c["hint"].get<std::string>().empty());
        }
    CHECK(failed["store"] == 1);        // corrupt jobs.db
    CHECK(failed["runs_root"] == 3);    // none of the runs roots exists
    CHECK(failed["file"] == 1);         // token file missing
    CHECK(failed["destination"] == 1);  // nothing listens
    CHECK(failed["binary"] == 2);       // rsync and rclone missing
    CHECK(failed.count("clock") == 0);

    auto text =
        run_process({LABSYNC_SYNCD, "doctor", "--config", (t / "broken.toml").string(), "--timeout", "2"});
    CHECK(text.exit_code == 1);
    CHECK_THAT(text.out, Catch::Contains("✗ store"));
    CHECK_THAT(text.out, Catch::Contains("fix: "));
    CHECK_THAT(text.out, Catch::Contains("✓ clock"));

    write_file(t / "file", "x");
    write_file(t / "nostate.toml",
               fmt::format("[global]\nstate_dir = \"{d}/file/state\"\n[equipment.a]\nruns_root = "
                           "\"{d}\"\n[equipment.a.transport]\nkind = \"rclone\"\nremote = \"x:y\"\n"
                           "config_file = \"{d}/rclone.conf\"\nrclone_binary = \"/bin/true\"\n",
                           fmt::arg("d", t.path().string())));
    auto ns = run_process({LABSYNC_SYNCD, "doctor", "--config", (t / "nostate.toml").string(), "--json"});
    CHECK(ns.exit_code == 1);
    bool state_failed = false;
    json ns_out = json::parse(ns.out);
    for (const auto& c : ns_out["checks"]) state_failed |= c["name"] == "state_dir" && !c["ok"].get<bool>();
    CHECK(state_failed);

    write_file(t / "invalid.toml", "[global]\n");
    CHECK(run_process({LABSYNC_SYNCD, "doctor", "--config", (t / "invalid.toml").string()}).exit_code == 2);
    CHECK(run_process({LABSYNC_SYNCD, "config", "check", (t / "invalid.toml").string()}).exit_code == 2);
}

TEST_CASE("doctor passes against a running receiver", "[e2e][doctor]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    auto r = run_process({LABSYNC_SYNCD, "doctor", "--config", d.config_path().string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("✓ destination"));
    CHECK_THAT(r.out, Catch::Contains("HTTP 2"));
}

TEST_CASE("a token_file others can read is warned about, one others can write is refused", "[e2e][doctor]") {
    // Before: accepted silently whatever its mode. Like ssh with a private key: group/world-readable
    // is a warning in `config check`, `doctor` and the log at start; group/world-writable (anyone
    // could swap in a token of their own) fails all three.
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    const auto token = d.dir() / "token";
    const auto config = d.config_path().string();

    std::filesystem::permissions(token, std::filesystem::perms(0644));
    auto check = run_process({LABSYNC_SYNCD, "config", "check", config});
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
    CHECK_THAT(check.err,
               Catch::Contains("warning: ") && Catch::Contains("equipment.eq1.transport.token_file") &&
                   Catch::Contains(token.string() + " (mode 0644) is readable by group and others"));
    auto doctor = run_process({LABSYNC_SYNCD, "doctor", "--config", config});
    INFO(doctor.out);
    CHECK(doctor.exit_code == 0);
    CHECK_THAT(doctor.out, Catch::Contains("! file") && Catch::Contains("(mode 0644) is readable by group"));
    CHECK_THAT(doctor.out, Catch::Contains("fix: chmod 600 " + token.string()));
    CHECK_THAT(doctor.out, Catch::Contains("(1 warning)"));
    d.start();
    CHECK_THAT(d.process().stderr_text(), Catch::Contains("(mode 0644) is readable by group and others"));
    auto stopped = d.stop(SIGTERM);
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);

    std::filesystem::permissions(token, std::filesystem::perms(0666));
    check = run_process({LABSYNC_SYNCD, "config", "check", config});
    CHECK(check.exit_code == 2);
    CHECK_THAT(check.err, Catch::Contains("equipment.eq1.transport.token_file: token_file " + token.string() +
                                          " (mode 0666) is writable by group and others"));
    CHECK(run_process({LABSYNC_SYNCD, "doctor", "--config", config}).exit_code == 2);
    process_options po;
    po.timeout = 20s;
    auto run = run_process({LABSYNC_SYNCD, "run", "--config", config}, po);
    CHECK(run.exit_code == 2);
    CHECK_THAT(run.err, Catch::Contains("(mode 0666) is writable") && Catch::Contains("not starting"));
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
