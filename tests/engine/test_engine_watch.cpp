// Run detection: inotify sees a marker appear; the rescan finds runs written while the engine
// was down; runs already known are not enqueued twice; unsettled runs wait.
#include "engine_harness.hpp"

#include "labsync/engine/gate.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <ctime>
#include <filesystem>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

namespace {

struct watch_fixture {
    test::temp_dir dir;
    std::shared_ptr<test::fake_remote> remote = std::make_shared<test::fake_remote>();

    engine::engine_config config(std::chrono::seconds settle = 0s) {
        auto c = test::engine_config_under(dir.path());
        c.rescan_interval = std::chrono::seconds(3600);
        for (const auto* name : {"cam-a", "cam-b"}) {
            engine::equipment_config e;
            e.name = name;
            e.runs_root = dir / "runs" / name;
            e.settle = settle;
            e.cleanup_enabled = false;
            std::get<transports::http_put_config>(e.transport).url = "http://127.0.0.1:1";
            c.equipment.push_back(e);
        }
        return c;
    }
    engine::engine_deps deps() { return test::fake_transport_deps(remote); }
};

}  // namespace

TEST_CASE("watch: a marker dropped into a new run directory enqueues the run", "[engine][watch]") {
    watch_fixture f;
    engine_runner r(f.config(), f.deps());
    REQUIRE_FALSE(r.open());
    r.start();
    // Runs root exists (open() creates it); the watch is set up asynchronously: write data, and
    // the marker last, several times over so at least one lands after the watch exists.
    const auto run = f.dir / "runs/cam-a/run-1";
    test::write_file(run / "img.raw", "pixels");
    std::optional<queue::job> j;
    for (int i = 0; i < 50 && !j; ++i) {
        test::write_file(run / "done.marker", "");
        j = r.observer.wait_run("run-1", job_state::verified, 200ms);
    }
    REQUIRE(j);
    CHECK(j->equipment == "cam-a");
    // Touching the marker again does not create a second job.
    test::write_file(run / "done.marker", "");
    r->request_rescan();
    std::this_thread::sleep_for(200ms);
    CHECK(r->list().size() == 1);
}

TEST_CASE("watch: the startup scan finds runs written while the engine was down", "[engine][watch]") {
    watch_fixture f;
    for (const auto* eq : {"cam-a", "cam-b"})
        for (int i = 0; i < 3; ++i) {
            const auto run = f.dir / "runs" / eq / ("r" + std::to_string(i));
            test::write_file(run / "f.bin", "data");
            test::write_file(run / "done.marker", "");
        }
    test::write_file(f.dir / "runs/cam-a/unfinished/f.bin", "no marker yet");
    engine_runner r(f.config(), f.deps());
    REQUIRE_FALSE(r.open());
    r.start();
    for (const auto* run : {"r0", "r1", "r2"}) {
        for (int k = 0; k < 2; ++k) REQUIRE(r.observer.wait_run(run, job_state::verified));
    }
    for (int i = 0; i < 200 && r->list({.state = job_state::verified}).size() < 6; ++i)
        std::this_thread::sleep_for(10ms);
    CHECK(r->list({.state = job_state::verified}).size() == 6);
    CHECK(r->list().size() == 6);  // the run without a marker is not enqueued
}

TEST_CASE("watch: an unsettled run waits for its settle time", "[engine][watch]") {
    watch_fixture f;
    const auto run = f.dir / "runs/cam-b/slow";
    test::write_file(run / "f.bin", "data");
    test::write_file(run / "done.marker", "");
    engine_runner r(f.config(1s), f.deps());
    REQUIRE_FALSE(r.open());
    const auto start = std::chrono::steady_clock::now();
    r.start();
    REQUIRE(r.observer.wait_run("slow", job_state::verified, 10s));
    CHECK(std::chrono::steady_clock::now() - start >= 500ms);
}

TEST_CASE("watch: an idle engine with 50 equipment uses ~0 CPU", "[engine][watch]") {
    test::temp_dir dir;
    auto c = test::engine_config_under(dir.path());
    for (int i = 0; i < 50; ++i) {
        engine::equipment_config e;
        e.name = "eq-" + std::to_string(i);
        e.runs_root = dir / "runs" / e.name;
        std::get<transports::http_put_config>(e.transport).url = "http://127.0.0.1:1";
        c.equipment.push_back(e);
    }
    engine_runner r(c, test::fake_transport_deps(std::make_shared<test::fake_remote>()));
    REQUIRE_FALSE(r.open());
    r.start();
    std::this_thread::sleep_for(300ms);  // startup scan and first cleanup pass
    const auto cpu = [] {
        timespec ts{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
    };
    const auto before = cpu();
    std::this_thread::sleep_for(1500ms);  // measuring idle time, not waiting for an event
    const auto used = std::chrono::duration_cast<std::chrono::milliseconds>(cpu() - before);
    INFO("CPU used while idle: " << used.count() << " ms");
    CHECK(used < 50ms);
}

TEST_CASE("watch: a run whose newest mtime is in the future is listed as waiting, then ships once fixed",
          "[engine][watch]") {
    watch_fixture f;
    const auto run = f.dir / "runs/cam-a/run-7";
    test::write_file(run / "img.raw", "pixels");
    test::write_file(run / "done.marker", "");
    const auto tomorrow = std::time(nullptr) + 86400;
    const timespec ahead[2] = {{tomorrow, 0}, {tomorrow, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (run / "img.raw").c_str(), ahead, 0) == 0);
    const auto far = f.dir / "runs/cam-b/run-far";
    test::write_file(far / "img.raw", "pixels");
    test::write_file(far / "done.marker", "");
    const timespec year_2300[2] = {{10'413'792'000, 0}, {10'413'792'000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, (far / "img.raw").c_str(), year_2300, 0) == 0);

    engine_runner r(f.config(), f.deps());
    REQUIRE_FALSE(r.open());
    r.start();
    std::vector<engine::settle_wait> waiting;
    for (int i = 0; i < 500 && waiting.size() < 2; ++i) {
        waiting = r->waiting_runs();
        if (waiting.size() < 2) std::this_thread::sleep_for(10ms);
    }
    REQUIRE(waiting.size() == 2);
    CHECK(waiting[0].equipment == "cam-a");
    CHECK(waiting[0].run_id == "run-7");
    const auto now = std::chrono::system_clock::now();
    CHECK(engine::describe_settle_wait(waiting[0].newest_mtime, waiting[0].settled_at, now) ==
          "mtime 1 day in the future, waiting");
    CHECK(waiting[1].run_id == "run-far");  // past 2262: still waiting, not read as 1715
    CHECK(waiting[1].newest_mtime > now + std::chrono::hours(24 * 365 * 200));
    CHECK(r->list().empty());

    // The instrument's clock is fixed and the file touched: it ships and stops waiting.
    const timespec now_times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    REQUIRE(::utimensat(AT_FDCWD, (run / "img.raw").c_str(), now_times, 0) == 0);
    r->request_rescan();
    REQUIRE(r.observer.wait_run("run-7", job_state::verified));
    waiting = r->waiting_runs();
    REQUIRE(waiting.size() == 1);
    CHECK(waiting[0].run_id == "run-far");
}

TEST_CASE("watch: runs without their marker are listed, with marker-like files of another name",
          "[engine][watch]") {
    watch_fixture f;
    const auto near_miss = f.dir / "runs/cam-a/run-8";
    test::write_file(near_miss / "img.raw", "pixels");
    test::write_file(near_miss / "DONE", "");  // the instrument's name for the marker
    const auto writing = f.dir / "runs/cam-b/run-9";
    test::write_file(writing / "img.raw", "pixels");

    engine_runner r(f.config(), f.deps());
    REQUIRE_FALSE(r.open());
    r.start();
    std::vector<engine::unmarked_run> unmarked;
    for (int i = 0; i < 500 && unmarked.size() < 2; ++i) {
        unmarked = r->runs_without_marker();
        if (unmarked.size() < 2) std::this_thread::sleep_for(10ms);
    }
    REQUIRE(unmarked.size() == 2);
    CHECK(unmarked[0].equipment == "cam-a");
    CHECK(unmarked[0].run_id == "run-8");
    CHECK(unmarked[0].expected_marker == "done.marker");
    CHECK(unmarked[0].marker_like == std::vector<std::string>{"DONE"});
    CHECK(engine::describe_unmarked(unmarked[0]) ==
          "no marker done.marker; found DONE (a different marker name?)");
    CHECK(unmarked[1].run_id == "run-9");
    CHECK(engine::describe_unmarked(unmarked[1]) == "no marker done.marker yet");
    CHECK(r->list().empty());

    // The marker arrives: the run ships and stops waiting; a removed run is dropped at the rescan.
    test::write_file(writing / "done.marker", "");
    r->request_rescan();
    REQUIRE(r.observer.wait_run("run-9", job_state::verified));
    fs::remove_all(near_miss);
    r->request_rescan();
    for (int i = 0; i < 500 && !unmarked.empty(); ++i) {
        unmarked = r->runs_without_marker();
        if (!unmarked.empty()) std::this_thread::sleep_for(10ms);
    }
    CHECK(unmarked.empty());
}
