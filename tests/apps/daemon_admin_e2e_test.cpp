// End to end through the admin socket of a real `syncd run`: jobs of an equipment removed by a
// reload neither stall the watchdog nor stay stuck (`syncd cancel`), and every operator action is
// recorded under the connecting user (SO_PEERCRED), whatever name the client sends.
#include "daemon_fixture.hpp"
#include "notify_listener.hpp"

#include "labsync/queue/job_store.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <chrono>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

using namespace labsync;
using namespace labsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The test process's own login name, as the daemon must record it.
std::string me() {
    passwd* pw = ::getpwuid(::getuid());
    REQUIRE(pw);
    return pw->pw_name;
}

// An equipment whose runs wait an hour to settle: an API-enqueued job stays queued.
std::string slow_equipment(const daemon_fixture& d, const std::string& name) {
    std::filesystem::create_directories(d.runs_root(name));
    return fmt::format(
        "[equipment.{0}]\nruns_root = \"{1}\"\nsettle = \"1h\"\n[equipment.{0}.transport]\n"
        "kind = \"http_put\"\nurl = \"http://127.0.0.1:9\"\n",
        name, d.runs_root(name).string());
}

// The daemon's store, opened to inspect it without taking it over.
queue::job_store inspect(const daemon_fixture& d) {
    queue::store_options o;
    o.replay = false;
    auto store = queue::job_store::open(d.dir() / "state" / "jobs.db", o);
    INFO(store.error().message);
    REQUIRE(store);
    return std::move(*store);
}

// The job's history.
std::vector<queue::job_event> events_of(const daemon_fixture& d, std::int64_t job_id) {
    auto store = inspect(d);
    auto events = store.events(job_id);
    REQUIRE(events);
    return *events;
}

std::int64_t enqueue(daemon_fixture& d, const std::filesystem::path& run, const std::string& state) {
    auto r = d.admin({.op = apps::admin_op::enqueue, .path = run.string()});
    INFO(r.message);
    REQUIRE(r.ok);
    CHECK(r.data["state"] == state);
    return r.data["job_id"].get<std::int64_t>();
}

}  // namespace

TEST_CASE("a reload that removes an equipment with queued jobs does not stall, and syncd cancel drops them",
          "[e2e][watchdog][admin]") {
    temp_dir t;
    notify_listener notify(t / "notify.sock");
    daemon_options options;
    options.url = "http://127.0.0.1:9";
    options.watchdog_stall = "1s";
    options.env = {{"NOTIFY_SOCKET", notify.path().string()}, {"WATCHDOG_USEC", "600000"}};
    daemon_fixture d(options);
    auto with_eq2 = options;
    with_eq2.extra_equipment = slow_equipment(d, "eq2");
    d.rewrite(with_eq2);
    d.start();
    REQUIRE(notify.wait_for("READY=1", 5s));
    const auto run = d.write_run("r1", 2, 4096, "eq2");
    const auto job_id = enqueue(d, run, "queued");

    d.rewrite(options);  // eq2 is gone; its queued job has no worker any more
    const auto reload_at = std::chrono::steady_clock::now();
    ::kill(d.process().pid(), SIGHUP);
    REQUIRE(notify.wait_for("STATUS=reloaded", 10s, reload_at));
    // Old code: the job counted as overdue one watchdog_stall after the reload, STATUS=STALLED
    // followed within a few status ticks (every 2 s) and the pings stopped.
    const auto quiet_from = std::chrono::steady_clock::now();
    CHECK_FALSE(notify.wait_for("STALLED", 7s, reload_at));
    CHECK(notify.wait_for("WATCHDOG=1", 2s, quiet_from + 5s));
    json s = d.status();
    bool listed = false;
    for (const auto& e : s["equipment"])
        if (e["name"] == "eq2") {
            listed = true;
            CHECK(e["configured"] == false);
            CHECK(e["counts"]["queued"] == 1);
        }
    CHECK(listed);

    auto cancelled = run_process({LABSYNC_SYNCD, "cancel", "eq2/r1", "--socket", d.socket().string(), "--why",
                                  "eq2 retired", "--who", "mallory"});
    INFO(cancelled.out << cancelled.err);
    REQUIRE(cancelled.exit_code == 0);
    CHECK_THAT(cancelled.out, Catch::Contains("failed"));
    auto j = d.job("r1");
    REQUIRE(j);
    CHECK((*j)["state"] == "failed");
    CHECK((*j)["last_error_kind"] == "cancelled");
    auto events = events_of(d, job_id);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().kind == queue::event_kind::cancel);
    CHECK(events.back().from_state == queue::job_state::queued);
    CHECK(events.back().message ==
          fmt::format("cancel by {}: eq2 retired (client-supplied name: mallory)", me()));
    // The run's data is the operator's: cancel never touches it.
    CHECK(std::filesystem::exists(run / "data-0.bin"));
    CHECK(std::filesystem::exists(run / "data-1.bin"));
    CHECK(std::filesystem::exists(run / "done.marker"));

    auto again = run_process({LABSYNC_SYNCD, "cancel", "#" + std::to_string(job_id), "--socket",
                              d.socket().string(), "--why", "twice"});
    CHECK(again.exit_code != 0);
    CHECK_THAT(again.err + again.out,
               Catch::Contains("only a queued or awaiting_verify job can be cancelled"));
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}

TEST_CASE("override, retry and cancel are recorded under the connecting user, not the client's who",
          "[e2e][admin]") {
    daemon_options options;
    options.url = "http://127.0.0.1:9";
    daemon_fixture d(options);
    options.extra_equipment = slow_equipment(d, "eq3");
    d.rewrite(options);
    d.start();
    const std::string user = me();

    // override: a symlink out of the run is a hard finding of the gate.
    const auto blocked_run = d.runs_root("eq3") / "b1";
    write_file(blocked_run / "data.bin", "x");
    std::filesystem::create_symlink("/etc/hostname", blocked_run / "escape");
    const auto blocked = enqueue(d, blocked_run, "blocked_by_validation");
    auto o = d.admin({.op = apps::admin_op::override_block,
                      .run = "eq3/b1",
                      .who = "mallory",
                      .why = "link checked by hand"});
    INFO(o.message);
    REQUIRE(o.ok);
    {
        auto store = inspect(d);
        auto overrides = store.overrides(blocked);
        REQUIRE(overrides);
        REQUIRE(overrides->size() == 1);
        CHECK(overrides->front().who == user);
        CHECK(overrides->front().why == "link checked by hand (client-supplied name: mallory)");
    }
    auto ev = events_of(d, blocked);
    auto override_event = std::find_if(ev.begin(), ev.end(),
                                       [](const auto& e) { return e.kind == queue::event_kind::override; });
    REQUIRE(override_event != ev.end());
    CHECK(override_event->message.rfind("override by " + user + ": ", 0) == 0);

    // cancel, then retry.
    const auto queued = enqueue(d, d.write_run("c1", 1, 1024, "eq3"), "queued");
    // A worker may be trying c1 right now (against port 9, which refuses at once): a running job
    // cannot be cancelled, so ask again once that attempt has failed and c1 waits to retry.
    // Each cancel is asked again while the job is running: a running job cannot be cancelled.
    auto cancel = [&](const std::string& who, const std::string& why) {
        auto answer = d.admin({.op = apps::admin_op::cancel, .run = "eq3/c1", .who = who, .why = why});
        for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
             !answer.ok && answer.message.find("is running") != std::string::npos &&
             std::chrono::steady_clock::now() < until;
             answer = d.admin({.op = apps::admin_op::cancel, .run = "eq3/c1", .who = who, .why = why}))
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return answer;
    };
    // The last event of `kind` in the job's history (a worker may add attempts after a retry).
    auto last_event = [&](queue::event_kind kind) {
        auto history = events_of(d, queued);
        auto it =
            std::find_if(history.rbegin(), history.rend(), [&](const auto& e) { return e.kind == kind; });
        REQUIRE(it != history.rend());
        return *it;
    };
    auto c = cancel("mallory", "duplicate");
    INFO(c.message);
    REQUIRE(c.ok);
    CHECK(c.data["job"]["state"] == "failed");
    auto r = d.admin({.op = apps::admin_op::retry, .run = "eq3/c1", .who = "mallory"});
    INFO(r.message);
    REQUIRE(r.ok);
    CHECK(last_event(queue::event_kind::cancel).message ==
          fmt::format("cancel by {}: duplicate (client-supplied name: mallory)", user));
    CHECK(last_event(queue::event_kind::retry)
              .message.rfind(fmt::format("retry by {} (client-supplied name: mallory)", user), 0) == 0);
    // A client naming itself correctly adds no note.
    auto c2 = cancel(user, "again");
    INFO(c2.message);
    REQUIRE(c2.ok);
    CHECK(last_event(queue::event_kind::cancel).message == fmt::format("cancel by {}: again", user));
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}

TEST_CASE("a scrape and an admin request answer at once while five clients sit idle on each",
          "[e2e][admin][metrics]") {
    daemon_options options;
    options.url = "http://127.0.0.1:9";
    daemon_fixture d(options);
    d.start();
    auto address = d.metrics_address();
    auto colon = address.rfind(':');
    std::vector<int> idle;
    for (int i = 0; i < 5; ++i) {
        int tcp = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
        in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(tcp, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0);
        idle.push_back(tcp);
        int local = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        std::strncpy(un.sun_path, d.socket().c_str(), sizeof un.sun_path - 1);
        REQUIRE(::connect(local, reinterpret_cast<sockaddr*>(&un), sizeof un) == 0);
        idle.push_back(local);
    }
    auto begin = std::chrono::steady_clock::now();
    auto metrics =
        run_process({"curl", "-sS", "--fail", "--max-time", "20", "http://" + address + "/metrics"});
    auto scrape_took = std::chrono::steady_clock::now() - begin;
    REQUIRE(metrics.exit_code == 0);
    CHECK_THAT(metrics.out, Catch::Contains("labsync_up 1"));
    CHECK(scrape_took < 2s);  // served one connection at a time: 2 s per idle client, 10 s
    begin = std::chrono::steady_clock::now();
    auto status = d.admin({.op = apps::admin_op::status});
    auto admin_took = std::chrono::steady_clock::now() - begin;
    CHECK(status.ok);
    CHECK(admin_took < 2s);  // served one connection at a time: 5 s per idle client, 25 s
    for (int fd : idle) ::close(fd);
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}
