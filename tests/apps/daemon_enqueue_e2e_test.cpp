// `syncd enqueue` and `syncd override` end to end: the real CLI talks to a real `syncd run` over
// its admin socket, and the run arrives at a real syncd-receiver (TLS + token).
#include "daemon_fixture.hpp"
#include "receiver_fixture.hpp"

#include <catch2/catch.hpp>

#include <pwd.h>
#include <unistd.h>

#include <filesystem>

using namespace labsync::test;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

run_result syncd_admin(daemon_fixture& d, std::vector<std::string> args) {
    args.insert(args.begin(), LABSYNC_SYNCD);
    args.insert(args.end(), {"--socket", d.socket().string()});
    return run_process(args);
}

// The run is stored byte-identical to what the daemon shipped, and deleted locally.
void check_enqueued_arrived(daemon_fixture& d, receiver_fixture& rx, const std::string& run_id) {
    auto j = d.wait_job(run_id, state_is("cleaned"));
    INFO(d.stderr_text());
    REQUIRE(j);
    auto record = receiver_record(rx.run_url("eq1", run_id), rx.pki().ca_cert, rx.token());
    REQUIRE(record);
    CHECK((*record)["sha256"] == (*j)["archive_sha256"]);
    CHECK_FALSE(fs::exists(d.runs_root() / run_id));
}

}  // namespace

TEST_CASE("syncd enqueue ships a run the watcher does not take (no marker)", "[e2e][admin]") {
    receiver_fixture rx({.tls = true});
    daemon_fixture d(to(rx));
    d.start();
    const auto manual = d.runs_root() / "manual";  // no done.marker, ever
    write_file(manual / "data-0.bin", std::string(32 << 10, 'a'));
    write_file(manual / "data-1.bin", std::string(32 << 10, 'b'));
    // A marked run written after it: once the watcher has shipped this one, it has seen (and left)
    // the unmarked run.
    d.write_run("marked", 1, 1 << 10);
    check_enqueued_arrived(d, rx, "marked");
    REQUIRE_FALSE(d.job("manual"));

    auto r = syncd_admin(d, {"enqueue", manual.string()});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("queued"));
    CHECK_THAT(r.out, Catch::Contains("marker_missing"));  // said, as a soft finding
    check_enqueued_arrived(d, rx, "manual");

    // Enqueueing a path outside every runs root is refused, naming the path.
    auto outside = syncd_admin(d, {"enqueue", d.dir().string()});
    CHECK(outside.exit_code == 1);
    CHECK_THAT(outside.err, Catch::Contains(d.dir().string()));
}

TEST_CASE("syncd override releases a run blocked by the gate and records why", "[e2e][admin]") {
    receiver_fixture rx({.tls = true});
    daemon_fixture d(to(rx));
    const auto run = d.runs_root() / "linked";
    write_file(run / "data.bin", "measurements");
    fs::create_directories(d.dir() / "calibration");
    fs::create_symlink(d.dir() / "calibration", run / "calibration");  // escapes the run: blocked
    write_file(run / "done.marker", "");
    d.start();
    auto blocked = d.wait_job("linked", state_is("blocked_by_validation"));
    INFO(d.stderr_text());
    REQUIRE(blocked);

    // Overriding needs a reason; a job that is not blocked cannot be overridden.
    CHECK(syncd_admin(d, {"override", "eq1/linked"}).exit_code != 0);
    auto r = syncd_admin(d, {"override", "eq1/linked", "--why", "calibration link is known"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    check_enqueued_arrived(d, rx, "linked");
    CHECK(fs::exists(d.dir() / "calibration"));  // the link was removed, not followed
    auto again = syncd_admin(d, {"override", "eq1/linked", "--why", "again"});
    CHECK(again.exit_code == 1);

    const auto why = run_process(
        {"sqlite3", "-readonly", (d.dir() / "state/jobs.db").string(),
         "SELECT why FROM overrides WHERE job_id = " + std::to_string((*blocked)["id"].get<std::int64_t>())});
    REQUIRE(why.exit_code == 0);
    CHECK(why.out == "calibration link is known\n");
}

TEST_CASE("a run blocked by the gate says why: list, enqueue, show and the log", "[e2e][admin]") {
    receiver_fixture rx({.tls = true});
    daemon_fixture d(to(rx));
    const auto run = d.runs_root() / "linked";
    write_file(run / "data.bin", "measurements");
    fs::create_directories(d.dir() / "calibration");
    fs::create_symlink(d.dir() / "calibration", run / "calibration");  // escapes the run: blocked
    write_file(run / "done.marker", "");
    d.start();
    REQUIRE(d.wait_job("linked", state_is("blocked_by_validation")));
    INFO(d.stderr_text());

    // list: the last error names the finding (code, path, message), text and JSON.
    auto list = syncd_admin(d, {"list"});
    REQUIRE(list.exit_code == 0);
    CHECK_THAT(list.out, Catch::Contains("[symlink_escape] symlink 'calibration' points outside the run"));
    auto list_json = syncd_admin(d, {"list", "--json"});
    REQUIRE(list_json.exit_code == 0);
    const json listed = json::parse(list_json.out)["jobs"][0];
    REQUIRE(listed["last_error"].is_string());
    CHECK_THAT(listed["last_error"].get<std::string>(),
               Catch::Contains("[symlink_escape]") && Catch::Contains("calibration"));
    CHECK(listed["last_error_kind"] == "validation");

    // The daemon's log line says it at creation, with the findings.
    CHECK_THAT(d.stderr_text(), Catch::Contains("created as blocked_by_validation: [symlink_escape]"));

    // enqueue of the (already known) blocked run returns its findings.
    auto enq = syncd_admin(d, {"enqueue", run.string(), "--json"});
    INFO(enq.out << enq.err);
    REQUIRE(enq.exit_code == 0);
    const json enqueued = json::parse(enq.out);
    CHECK(enqueued["already_known"] == true);
    bool found = false;
    for (const json& f : enqueued["findings"])
        found =
            found || (f["code"] == "symlink_escape" && f["severity"] == "hard" && f["path"] == "calibration");
    CHECK(found);
    auto enq_text = syncd_admin(d, {"enqueue", run.string()});
    CHECK_THAT(enq_text.out, Catch::Contains("hard symlink_escape"));

    // show: the job, its findings, its events with who.
    auto show = syncd_admin(d, {"show", "eq1/linked"});
    INFO(show.out << show.err);
    REQUIRE(show.exit_code == 0);
    CHECK_THAT(show.out, Catch::Contains("blocked_by_validation"));
    CHECK_THAT(show.out, Catch::Contains("hard symlink_escape calibration: symlink 'calibration'"));
    CHECK_THAT(show.out,
               Catch::Contains("created") && Catch::Contains("by syncd: blocked by the pre-sync gate"));
    CHECK_THAT(show.out, !Catch::Contains("findings=["));  // the raw event JSON is not repeated

    REQUIRE(syncd_admin(d, {"override", "eq1/linked", "--why", "calibration link is known"}).exit_code == 0);
    auto shown = syncd_admin(d, {"show", "eq1/linked", "--json"});
    REQUIRE(shown.exit_code == 0);
    const json data = json::parse(shown.out);
    const passwd* me = ::getpwuid(::geteuid());
    REQUIRE(me != nullptr);
    const json& events = data["events"];
    REQUIRE(events.size() >= 2);
    CHECK(events[0]["kind"] == "created");
    CHECK(events[0]["to"] == "blocked_by_validation");
    CHECK(events[0]["who"] == "syncd");
    CHECK(events[0]["at"].get<std::string>().back() == 'Z');
    CHECK(events[1]["kind"] == "override");
    CHECK(events[1]["who"] == me->pw_name);
    CHECK(events[1]["from"] == "blocked_by_validation");
    CHECK(data["overrides"][0]["why"] == "calibration link is known");
    CHECK(data["findings"][0]["code"] == "symlink_escape");
    // Released: the block's error is gone.
    CHECK(data["job"]["last_error"].is_null());
    check_enqueued_arrived(d, rx, "linked");

    // An unknown run is an error naming it.
    auto unknown = syncd_admin(d, {"show", "eq1/nothing"});
    CHECK(unknown.exit_code != 0);
    CHECK_THAT(unknown.err, Catch::Contains("nothing"));
}
