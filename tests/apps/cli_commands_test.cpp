// syncd's operator flags end to end: `enqueue --dry-run` (the gate and what would ship, nothing
// written), `list --equipment --state --since --limit` against a running daemon, `run --log-file`;
// and the --since parser.
#include "cli/since_arg.hpp"
#include "daemon_fixture.hpp"
#include "receiver_fixture.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>

using namespace labsync;
using namespace labsync::test;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

run_result syncd(const std::vector<std::string>& args) {
    std::vector<std::string> argv{LABSYNC_SYNCD};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv);
}

// A daemon config whose receiver is never contacted.
daemon_options unreachable() {
    daemon_options o;
    o.url = "https://127.0.0.1:9";
    return o;
}

}  // namespace

TEST_CASE("list --since reads a span back from now or a UTC date or time", "[cli][unit]") {
    const auto now = std::chrono::system_clock::from_time_t(1'764'633'600);  // 2025-12-02T00:00:00Z
    std::string why;
    CHECK(apps::parse_since("2h", now, why) == now - 2h);
    CHECK(apps::parse_since("1d", now, why) == now - 24h);
    CHECK(apps::parse_since("2025-12-01", now, why) == now - 24h);
    CHECK(apps::parse_since("2025-12-01T23:30:00Z", now, why) == now - 30min);
    CHECK(apps::parse_since("2025-12-01 23:59", now, why) == now - 1min);
    CHECK_FALSE(apps::parse_since("yesterday", now, why));
    CHECK_THAT(why, Catch::Contains("--since \"yesterday\"") && Catch::Contains("90m"));
    CHECK_FALSE(apps::parse_since("2025-13-45", now, why));
    CHECK_FALSE(apps::parse_since("", now, why));
}

TEST_CASE("enqueue --dry-run shows the gate's findings and what would ship, and writes nothing", "[cli]") {
    daemon_fixture d(unreachable());
    const auto ok = d.write_run("r1", 3, 1000);
    auto r = syncd({"enqueue", "--dry-run", ok.string(), "--config", d.config_path().string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("dry run (nothing written): eq1/r1 would be queued"));
    CHECK_THAT(r.out, Catch::Contains("would ship ") && Catch::Contains(" bytes via http_put"));
    auto j = syncd({"enqueue", "--dry-run", ok.string(), "--config", d.config_path().string(), "--json"});
    REQUIRE(j.exit_code == 0);
    json out = json::parse(j.out);
    CHECK(out["would_be"] == "queued");
    CHECK(out["equipment"] == "eq1");
    CHECK(out["files"].get<std::size_t>() == out["ship"].size());
    CHECK(out["bytes"].get<std::uint64_t>() >= 3000);

    const auto bad = d.runs_root() / "linked";
    write_file(bad / "data.bin", "x");
    fs::create_symlink("/etc", bad / "etc");  // leaves the run: a hard finding
    auto blocked = syncd({"enqueue", "--dry-run", bad.string(), "--config", d.config_path().string()});
    CHECK(blocked.exit_code == 1);
    CHECK_THAT(blocked.out,
               Catch::Contains("would be blocked_by_validation") && Catch::Contains("symlink_escape"));

    auto elsewhere = syncd({"enqueue", "--dry-run", d.dir().string(), "--config", d.config_path().string()});
    CHECK(elsewhere.exit_code == 2);
    CHECK_THAT(elsewhere.err, Catch::Contains("not directly below the runs root of any equipment"));
    CHECK_FALSE(fs::exists(d.dir() / "state" / "jobs.db"));  // no daemon, no store: nothing written
}

TEST_CASE("list filters by equipment, state, time and count", "[cli]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    daemon_options o = to(rx);
    o.extra_equipment = fmt::format(
        "[equipment.eq2]\nruns_root = \"{d}/runs/eq2\"\n[equipment.eq2.transport]\nkind = \"http_put\"\n"
        "url = \"{url}\"\nca_file = \"{ca}\"\ntoken_file = \"{d}/token\"\n",
        fmt::arg("d", d.dir().string()), fmt::arg("url", rx.url()),
        fmt::arg("ca", rx.pki().ca_cert.string()));
    d.rewrite(o);
    d.start();
    for (const char* run : {"a", "b", "c"}) d.write_run(run, 1, 100);
    d.write_run("z", 1, 100, "eq2");
    auto ids = [&](std::vector<std::string> args) {
        args.insert(args.begin(), "list");
        args.insert(args.end(), {"--json", "--socket", d.socket().string()});
        auto r = syncd(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        std::vector<std::string> runs;
        const json listed = json::parse(r.out);  // not a temporary: the loop reads into it
        for (const auto& j : listed["jobs"])
            runs.push_back(j["equipment"].get<std::string>() + "/" + j["run_id"].get<std::string>());
        return runs;
    };
    for (const char* run : {"a", "b", "c"}) REQUIRE(d.wait_job(run, [](const json&) { return true; }));
    REQUIRE(d.wait_job("z", [](const json&) { return true; }));
    CHECK(ids({}).size() == 4);
    CHECK(ids({"--equipment", "eq2"}) == std::vector<std::string>{"eq2/z"});
    CHECK(ids({"--equipment", "eq1"}).size() == 3);
    CHECK(ids({"--equipment", "nope"}).empty());
    CHECK(ids({"--limit", "2"}).size() == 2);
    CHECK(ids({"--since", "1h"}).size() == 4);
    CHECK(ids({"--since", "2100-01-01"}).empty());
    CHECK(ids({"--equipment", "eq1", "--since", "1h", "--limit", "2"}).size() == 2);
    CHECK(ids({"--state", "blocked_by_validation"}).empty());
    auto bad = syncd({"list", "--since", "soon", "--socket", d.socket().string()});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("--since \"soon\""));
}

TEST_CASE("run --log-file writes the log to the file", "[cli]") {
    daemon_fixture d(unreachable());
    const auto log = d.dir() / "syncd.log";
    child_process p({LABSYNC_SYNCD, "run", "--config", d.config_path().string(), "--log-file", log.string()});
    REQUIRE(p.wait_for_line("syncd ready", 20s));
    auto stopped = p.stop(SIGTERM);
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
    const std::string text = read_file(log);
    CHECK_THAT(text, Catch::Contains("ready: 1 equipment") && Catch::Contains("stopped in"));
    CHECK_THAT(p.stderr_text(), !Catch::Contains("ready: 1 equipment"));
    auto unwritable = syncd(
        {"run", "--config", d.config_path().string(), "--log-file", (d.dir() / "no" / "x.log").string()});
    CHECK(unwritable.exit_code == 2);
    CHECK_THAT(unwritable.err, Catch::Contains("--log-file") && Catch::Contains("No such file or directory"));
}
