// The engine against real files and a real SQLite store, with a fake transport and a manual
// wall clock: every error kind leads to the expected state, attempts and next_attempt_at;
// the gate blocks and an override releases; a crash mid-job is replayed.
#include "engine_harness.hpp"

#include "labsync/queue/job_store.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>

using namespace labsync;
using namespace std::chrono_literals;
using engine::engine_config;
using queue::job_state;
using test::engine_runner;
using transports::error_kind;
using transports::transport_result;
namespace fs = std::filesystem;

namespace {

struct fixture {
    test::temp_dir dir;
    std::shared_ptr<test::fake_remote> remote = std::make_shared<test::fake_remote>();
    std::shared_ptr<test::manual_clock> clock = std::make_shared<test::manual_clock>();

    engine_config config(int max_attempts = 3) {
        auto c = test::engine_config_under(dir.path());
        c.backoff = {1000ms, 8000ms, max_attempts};
        c.cleanup_interval = std::chrono::seconds(3600);
        c.rescan_interval = std::chrono::seconds(0);
        engine::equipment_config e;
        e.name = "scope-1";
        e.runs_root = dir / "runs";
        e.settle = 0s;
        e.watch = false;
        e.cleanup_enabled = false;
        std::get<transports::http_put_config>(e.transport).url = "http://127.0.0.1:1";
        c.equipment.push_back(e);
        return c;
    }

    engine::engine_deps deps() {
        auto d = test::fake_transport_deps(remote, clock);
        d.random_unit = [] { return 0.5; };
        return d;
    }

    fs::path make_run(const std::string& name, bool marker = true) {
        const auto run = dir / "runs" / name;
        test::write_file(run / "data/a.bin", "alpha-" + name);
        test::write_file(run / "b.txt", "beta");
        if (marker) test::write_file(run / "done.marker", "");
        return run;
    }
};

std::unique_ptr<engine_runner> start(fixture& f, engine_config c) {
    auto r = std::make_unique<engine_runner>(std::move(c), f.deps());
    auto err = r->open();
    INFO(err.message);
    REQUIRE_FALSE(err);
    r->start();
    return r;
}

}  // namespace

TEST_CASE("engine: a run is shipped, verified, and its job records bytes and digest", "[engine]") {
    fixture f;
    auto e = start(f, f.config());
    const auto run = f.make_run("run-1");
    auto res = (*e)->enqueue(run);
    REQUIRE_FALSE(res.error);
    CHECK(res.state == job_state::queued);
    auto j = e->observer.wait_for(res.job_id, job_state::verified);
    REQUIRE(j);
    CHECK(j->attempts == 1);
    CHECK(j->bytes == static_cast<std::int64_t>(std::string("alpha-run-1").size() + 4));
    CHECK(j->manifest_digest);
    CHECK_FALSE(j->last_error_kind);
    CHECK(fs::exists(run));  // cleanup disabled
    // Enqueueing again returns the same live job.
    auto again = (*e)->enqueue(run);
    CHECK(again.already_known);
    CHECK(again.job_id == res.job_id);
    auto st = (*e)->status(run);
    REQUIRE(st);
    CHECK(st->state == job_state::verified);
}

TEST_CASE("engine: network errors back off with jitter, then succeed", "[engine]") {
    fixture f;
    f.remote->push_script = {transport_result::failure(error_kind::network, "connection refused")};
    auto e = start(f, f.config());
    const auto t0 = f.clock->now();
    auto res = (*e)->enqueue(f.make_run("run-n"));
    auto j = e->observer.wait_for(res.job_id, job_state::queued);
    // First the created event (queued) - wait for the requeue with an error.
    for (int i = 0; i < 100 && (!j || !j->last_error_kind); ++i) {
        std::this_thread::sleep_for(10ms);  // the observer keeps only the latest state; re-read
        j = (*e)->status(f.dir / "runs/run-n");
    }
    REQUIRE(j);
    CHECK(j->state == job_state::queued);
    CHECK(j->attempts == 1);
    CHECK(j->last_error_kind == "network");
    REQUIRE(j->next_attempt_at);
    CHECK(*j->next_attempt_at == t0 + 500ms);  // 0.5 * base * 2^0
    // Not due yet: nothing happens. Move the clock, wake the engine: it ships.
    f.clock->advance(600ms);
    (*e)->wake_all();
    auto v = e->observer.wait_for(res.job_id, job_state::verified);
    REQUIRE(v);
    CHECK(v->attempts == 2);
}

TEST_CASE("engine: network errors until max_attempts fail the job", "[engine]") {
    fixture f;
    for (int i = 0; i < 3; ++i)
        f.remote->push_script.push_back(transport_result::failure(error_kind::network, "reset"));
    auto e = start(f, f.config(3));
    auto res = (*e)->enqueue(f.make_run("run-m"));
    for (int i = 0; i < 3; ++i) {
        f.clock->advance(10s);
        (*e)->wake_all();
        if (e->observer.wait_for(res.job_id, job_state::failed, 300ms)) break;
    }
    auto j = e->observer.wait_for(res.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(j->attempts == 3);
    CHECK(j->last_error_kind == "network");
    CHECK(f.remote->pushes == 3);
}

TEST_CASE("engine: terminal kinds fail at once and keep the local run", "[engine]") {
    for (auto kind : {error_kind::auth, error_kind::local_file_vanished, error_kind::conflict}) {
        fixture f;
        f.remote->push_script = {transport_result::failure(kind, "scripted")};
        auto e = start(f, f.config());
        const auto run = f.make_run("run-t");
        auto res = (*e)->enqueue(run);
        auto j = e->observer.wait_for(res.job_id, job_state::failed);
        INFO(transports::to_string(kind));
        REQUIRE(j);
        CHECK(j->attempts == 1);
        CHECK(j->last_error_kind == std::string(transports::to_string(kind)));
        CHECK(fs::exists(run / "data/a.bin"));
        CHECK(f.remote->pushes == 1);
        // Operator retry re-queues with attempts reset; now it succeeds.
        REQUIRE_FALSE((*e)->retry(run, "tester"));
        auto v = e->observer.wait_for(res.job_id, job_state::verified);
        REQUIRE(v);
        CHECK(v->attempts == 1);
    }
}

TEST_CASE("engine: hash_mismatch and binary_missing retry once, then fail", "[engine]") {
    for (auto kind : {error_kind::hash_mismatch, error_kind::binary_missing}) {
        fixture f;
        f.remote->push_script = {transport_result::failure(kind, "first"),
                                 transport_result::failure(kind, "second")};
        auto e = start(f, f.config());
        auto res = (*e)->enqueue(f.make_run("run-h"));
        auto j = e->observer.wait_for(res.job_id, job_state::failed);
        INFO(transports::to_string(kind));
        REQUIRE(j);
        CHECK(j->attempts == 2);
        CHECK(f.remote->pushes == 2);
        // One immediate retry: no clock movement was needed.
    }
    fixture f;
    f.remote->push_script = {transport_result::failure(error_kind::hash_mismatch, "once")};
    auto e = start(f, f.config());
    auto res = (*e)->enqueue(f.make_run("run-h2"));
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
}

TEST_CASE("engine: rejected moves the run to quarantine with its reason", "[engine]") {
    fixture f;
    auto rejected = transport_result::failure(error_kind::rejected, "412 commit not allowed", 412);
    rejected.stdout_text = R"({"remediation":"git pull"})";
    f.remote->push_script = {rejected};
    auto e = start(f, f.config());
    const auto run = f.make_run("run-q");
    auto res = (*e)->enqueue(run);
    auto j = e->observer.wait_for(res.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(j->last_error_kind == "rejected");
    const auto q = f.dir / "quarantine/scope-1/run-q";
    for (int i = 0; i < 200 && !fs::exists(q / "quarantine_reason.json"); ++i)
        std::this_thread::sleep_for(10ms);
    REQUIRE(fs::exists(q / "quarantine_reason.json"));
    CHECK_FALSE(fs::exists(run));
    CHECK(test::read_file(q / "data/a.bin") == "alpha-run-q");
    auto reason = nlohmann::json::parse(test::read_file(q / "quarantine_reason.json"));
    CHECK(reason["status"] == 412);
    CHECK(reason["body"] == R"({"remediation":"git pull"})");
    CHECK(reason["attempts"] == 1);
}

TEST_CASE("engine: a remote copy that does not match is re-shipped once, then failed", "[engine]") {
    fixture f;
    f.remote->tamper = true;
    auto e = start(f, f.config());
    auto res = (*e)->enqueue(f.make_run("run-v"));
    auto j = e->observer.wait_for(res.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(j->last_error_kind == "hash_mismatch");
    CHECK_THAT(*j->last_error, Catch::Contains("hash differs"));
    CHECK(f.remote->pushes == 2);
}

TEST_CASE("engine: the gate blocks a run until an operator overrides", "[engine]") {
    fixture f;
    auto e = start(f, f.config());
    const auto run = f.make_run("run-g");
    fs::create_symlink("/etc/passwd", run / "escape");
    auto res = (*e)->enqueue(run);
    REQUIRE_FALSE(res.error);
    CHECK(res.state == job_state::blocked_by_validation);
    REQUIRE_FALSE(res.findings.empty());
    CHECK(engine::has_hard(res.findings));
    CHECK((*e)->retry(run, "x").code == engine::errc::wrong_state);
    REQUIRE_FALSE((*e)->override_block(run, "alice", "the link is documented"));
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    auto overrides = (*e)->overrides(res.job_id);
    REQUIRE_FALSE(overrides.error);
    REQUIRE(overrides.value.size() == 1);
    CHECK(overrides.value.front().who == "alice");
}

TEST_CASE("engine: API enqueue errors name the problem", "[engine]") {
    fixture f;
    auto e = start(f, f.config());
    CHECK((*e)->enqueue(f.dir / "elsewhere/run-1").error.code == engine::errc::unknown_equipment);
    CHECK((*e)->enqueue(f.dir / "runs/bad name").error.code == engine::errc::invalid_run_path);
    CHECK((*e)->force_verify(f.dir / "runs/none").code == engine::errc::no_job);
    // A run without marker enqueued by API: accepted with a soft finding.
    auto res = (*e)->enqueue(f.make_run("run-nm", false));
    CHECK(res.state == job_state::queued);
    REQUIRE(res.findings.size() == 1);
    CHECK(res.findings.front().code == "marker_missing");
    CHECK(res.findings.front().level == engine::severity::soft);
}

TEST_CASE("engine: a crash while running is replayed on the next open", "[engine]") {
    fixture f;
    f.remote->hang_push = true;
    std::int64_t id = 0;
    {
        auto e = start(f, f.config());
        auto res = (*e)->enqueue(f.make_run("run-c"));
        id = res.job_id;
        REQUIRE(e->observer.wait_for(id, job_state::running));
        e->stop();  // the push never finished: the job is left running in the store
    }
    {
        queue::store_options inspect;
        inspect.replay = false;
        auto store = queue::job_store::open(f.dir / "state/jobs.db", inspect);
        REQUIRE(store);
        CHECK(store->find(id)->state == job_state::running);
    }
    f.remote->hang_push = false;
    auto e = start(f, f.config());
    auto j = e->observer.wait_for(id, job_state::verified);
    REQUIRE(j);
    auto events = (*e)->events(id);
    CHECK(std::any_of(events.begin(), events.end(),
                      [](const auto& ev) { return ev.kind == queue::event_kind::replay; }));
}

TEST_CASE("engine: a crash while awaiting verification re-verifies on the next open", "[engine]") {
    fixture f;
    f.remote->hang_probe = true;
    std::int64_t id = 0;
    {
        auto e = start(f, f.config());
        auto res = (*e)->enqueue(f.make_run("run-av"));
        id = res.job_id;
        REQUIRE(e->observer.wait_for(id, job_state::awaiting_verify));
        e->stop();
    }
    f.remote->hang_probe = false;
    const int pushes_before = f.remote->pushes;
    auto e = start(f, f.config());
    REQUIRE(e->observer.wait_for(id, job_state::verified));
    CHECK(f.remote->pushes == pushes_before);  // verified without shipping again
}

TEST_CASE("engine: force_verify proves a verified run again", "[engine]") {
    fixture f;
    auto e = start(f, f.config());
    const auto run = f.make_run("run-fv");
    auto res = (*e)->enqueue(run);
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    const int probes = f.remote->probes;
    REQUIRE_FALSE((*e)->force_verify(run));
    for (int i = 0; i < 500 && e->observer.entries(res.job_id, job_state::verified) < 2; ++i)
        std::this_thread::sleep_for(10ms);
    CHECK(e->observer.entries(res.job_id, job_state::verified) == 2);
    CHECK(f.remote->probes == probes + 1);
}

TEST_CASE("engine: progress and completion callbacks reach the embedder", "[engine]") {
    fixture f;
    std::atomic<int> progress{0};
    auto deps = f.deps();
    deps.on_progress = [&](const engine::progress_event& ev) {
        if (ev.run_id == "run-p") ++progress;
    };
    engine_runner r(f.config(), std::move(deps));
    REQUIRE_FALSE(r.open());
    r.start();
    auto res = r->enqueue(f.make_run("run-p"));
    REQUIRE(r.observer.wait_for(res.job_id, job_state::verified));
    r.stop();
    CHECK(progress >= 1);
}

TEST_CASE("engine: building the manifest reports hashing progress while it runs", "[engine][watchdog]") {
    // A manifest of a large run takes longer than watchdog_stall: the daemon only keeps pinging
    // systemd if the engine reports bytes during it. The injected builder does not finish until
    // the embedder has seen a `hashing` event for the job, so the event must come while it runs.
    fixture f;
    std::mutex mutex;
    std::condition_variable cv;
    std::vector<engine::progress_event> events;
    auto deps = f.deps();
    deps.on_progress = [&](const engine::progress_event& ev) {
        std::lock_guard lock(mutex);
        events.push_back(ev);
        cv.notify_all();
    };
    bool seen_while_building = false;
    deps.build_manifest = [&](const fs::path& run, const verifier::build_options& options) {
        if (options.on_progress) options.on_progress(1, 2);  // no Catch2 assertion off the test thread
        {
            std::unique_lock lock(mutex);
            seen_while_building = cv.wait_for(lock, 10s, [&] {
                return std::any_of(events.begin(), events.end(), [](const auto& ev) {
                    return ev.phase == engine::progress_phase::hashing && ev.done == 1 && ev.total == 2;
                });
            });
        }
        return verifier::build_manifest(run, options);
    };
    engine_runner r(f.config(), std::move(deps));
    REQUIRE_FALSE(r.open());
    r.start();
    auto res = r->enqueue(f.make_run("run-h"));
    REQUIRE(r.observer.wait_for(res.job_id, job_state::verified));
    r.stop();
    CHECK(seen_while_building);
    std::lock_guard lock(mutex);
    REQUIRE_FALSE(events.empty());
    CHECK(events.front().phase == engine::progress_phase::hashing);
    CHECK(events.front().job_id == res.job_id);
    CHECK(std::any_of(events.begin(), events.end(),
                      [](const auto& ev) { return ev.phase == engine::progress_phase::verifying; }));
}

TEST_CASE("engine: a transport whose push hashes the run ships without a manifest pass", "[engine][stream]") {
    fixture f;
    f.remote->hashes_run = true;
    std::atomic<int> builds{0};
    auto deps = f.deps();
    deps.build_manifest = [&](const fs::path& run, const verifier::build_options& options) {
        ++builds;
        return verifier::build_manifest(run, options);
    };
    engine_runner r(f.config(), std::move(deps));
    REQUIRE_FALSE(r.open());
    r.start();
    auto res = r->enqueue(f.make_run("run-s"));
    auto j = r.observer.wait_for(res.job_id, job_state::verified);
    r.stop();
    REQUIRE(j);
    CHECK(builds == 0);  // the push's own read was the only one
    CHECK(j->bytes == static_cast<std::int64_t>(std::string("alpha-run-s").size() + 4));
    CHECK(j->manifest_digest);
    CHECK(j->tree_digest);
}

TEST_CASE("engine: run() serves the engine on the calling thread until close() from another", "[engine]") {
    fixture f;
    boost::asio::io_context io;
    {
        engine::engine never_opened(io, f.config(), f.deps());
        CHECK(never_opened.run().code == engine::errc::not_open);
    }
    test::job_observer observer;
    std::thread::id changed_on;
    auto deps = f.deps();
    deps.on_job_changed = [&](const queue::job& j) {
        changed_on = std::this_thread::get_id();
        observer.on_change(j);
    };
    engine::engine e(io, f.config(), std::move(deps));
    REQUIRE_FALSE(e.open());
    engine::engine_error result{engine::make_error_code(engine::errc::closed), "run() did not return"};
    std::thread runner([&] { result = e.run(); });
    const auto runner_id = runner.get_id();
    REQUIRE_FALSE(e.enqueue(f.make_run("run-1")).error);
    CHECK(observer.wait_run("run-1", job_state::verified, 10s));
    e.close();  // ends run()
    runner.join();
    CHECK_FALSE(result);
    CHECK(changed_on == runner_id);
    CHECK(e.run().code == engine::errc::not_open);  // closed
}
