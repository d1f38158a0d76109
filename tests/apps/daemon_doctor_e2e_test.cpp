// `syncd doctor` end to end: the real binary against a broken setup, a running receiver, and
// token files with wrong modes.
#include "daemon_fixture.hpp"
#include "receiver_fixture.hpp"
#include "skip.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <pwd.h>
#include <unistd.h>
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

namespace {

// The doctor's JSON checks named `name` whose subject contains `subject`.
std::vector<json> checks_named(const json& out, const std::string& name, const std::string& subject) {
    std::vector<json> found;
    for (const auto& c : out["checks"])
        if (c["name"] == name && c["subject"].get<std::string>().find(subject) != std::string::npos)
            found.push_back(c);
    return found;
}

json doctor_json(const std::filesystem::path& config, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{LABSYNC_SYNCD, "doctor",    "--config", config.string(),
                                  "--json",      "--timeout", "5"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto r = run_process(argv);
    INFO(r.out << r.err);
    return json::parse(r.out);
}

}  // namespace

TEST_CASE("doctor checks each equipment's token against that equipment on a TLS receiver", "[e2e][doctor]") {
    // Before: one POST /v1/ping accepted any equipment, so eq2 configured with eq1's token passed
    // doctor and then every upload of eq2 failed with 403.
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    std::filesystem::create_directories(d.dir() / "runs" / "eq2");
    daemon_options o = to(rx);
    o.extra_equipment = fmt::format(
        "[equipment.eq2]\nruns_root = \"{d}/runs/eq2\"\n[equipment.eq2.transport]\nkind = \"http_put\"\n"
        "url = \"{url}\"\nca_file = \"{ca}\"\ntoken_file = \"{d}/token\"\n",
        fmt::arg("d", d.dir().string()), fmt::arg("url", rx.url()),
        fmt::arg("ca", rx.pki().ca_cert.string()));
    d.rewrite(o);
    auto r = run_process({LABSYNC_SYNCD, "doctor", "--config", d.config_path().string(), "--json"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    json out = json::parse(r.out);
    auto eq1 = checks_named(out, "destination", "eq1 POST");
    auto eq2 = checks_named(out, "destination", "eq2 POST");
    REQUIRE(eq1.size() == 1);
    REQUIRE(eq2.size() == 1);
    CHECK(eq1[0]["ok"] == true);
    CHECK_THAT(eq1[0]["subject"].get<std::string>(), Catch::Contains("/v1/ping?equipment=eq1"));
    CHECK(eq2[0]["ok"] == false);
    CHECK_THAT(eq2[0]["detail"].get<std::string>(),
               Catch::Contains("HTTP 403") && Catch::Contains("does not grant equipment eq2"));
    CHECK_THAT(eq2[0]["hint"].get<std::string>(),
               Catch::Contains("another equipment") && Catch::Contains("eq2"));
    auto text = run_process({LABSYNC_SYNCD, "doctor", "--config", d.config_path().string()});
    CHECK_THAT(text.out,
               Catch::Contains("✗ destination   eq2 POST") && Catch::Contains("✓ destination   eq1 POST"));
    CHECK_THAT(text.out, Catch::Contains("✓ user"));  // says whose file access it checked
}

TEST_CASE("doctor names the cause of an unreachable receiver: refused, unknown CA, http:// against TLS",
          "[e2e][doctor]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    auto destination = [&](const daemon_options& o) {
        d.rewrite(o);
        auto found = checks_named(doctor_json(d.config_path()), "destination", "eq1");
        REQUIRE(found.size() == 1);
        CHECK(found[0]["ok"] == false);
        return found[0];
    };
    daemon_options refused = to(rx);
    refused.url = fmt::format("https://127.0.0.1:{}", free_tcp_port());
    auto c = destination(refused);
    CHECK_THAT(c["hint"].get<std::string>(), Catch::Contains("nothing listens at " + refused.url));

    daemon_options foreign = to(rx);
    foreign.ca_file = rx.pki().foreign_ca_cert;
    c = destination(foreign);
    CHECK_THAT(c["hint"].get<std::string>(),
               Catch::Contains("not signed by the CA in " + rx.pki().foreign_ca_cert.string()));

    daemon_options plain = to(rx);
    plain.url = fmt::format("http://127.0.0.1:{}", rx.port());
    c = destination(plain);
    CHECK_THAT(c["hint"].get<std::string>(), Catch::Contains("must start with https://"));
}

TEST_CASE("doctor --as-user checks file access as the service user", "[e2e][doctor]") {
    if (::getpwnam("nobody") == nullptr) skip_test("no user `nobody` on this host");
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    std::filesystem::permissions(d.dir() / "token", std::filesystem::perms(0600));  // the caller's only
    json out = doctor_json(d.config_path(), {"--as-user", "nobody"});
    auto user = checks_named(out, "user", "nobody");
    REQUIRE(user.size() == 1);
    CHECK_THAT(user[0]["detail"].get<std::string>(), Catch::Contains("checked as nobody (uid "));
    auto token = checks_named(out, "file", "token_file");
    REQUIRE(token.size() == 1);
    CHECK(token[0]["ok"] == false);
    CHECK_THAT(token[0]["detail"].get<std::string>(), Catch::Contains("does not let nobody"));
    CHECK_THAT(token[0]["hint"].get<std::string>(), Catch::Contains("chown nobody"));
    // As the caller (who owns it) the same file passes.
    auto own = checks_named(doctor_json(d.config_path()), "file", "token_file");
    REQUIRE(own.size() == 1);
    CHECK(own[0]["ok"] == true);
    auto unknown = run_process(
        {LABSYNC_SYNCD, "doctor", "--config", d.config_path().string(), "--as-user", "no-such-user-xyz"});
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.err, Catch::Contains("no-such-user-xyz: no such user"));
}
