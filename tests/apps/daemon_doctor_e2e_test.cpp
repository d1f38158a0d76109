// `syncd doctor` end to end: the real binary against a broken setup, a running receiver, and
// token files with wrong modes.
#include "daemon_fixture.hpp"
#include "receiver_fixture.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <map>
#include <string>

using namespace labsync;
using namespace labsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

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
