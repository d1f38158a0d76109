// Concurrency limits (SPEC §4): an equipment never has more than its max_parallel jobs shipping,
// and all equipment together never more than max_parallel_global. The fake remote holds every
// push in flight until the test releases them, so the limit is reached and then observed.
#include "engine_harness.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

namespace {

struct parallel_fixture {
    test::temp_dir dir;
    std::shared_ptr<test::fake_remote> remote = std::make_shared<test::fake_remote>();

    engine::equipment_config equipment(const std::string& name, int max_parallel) {
        engine::equipment_config e;
        e.name = name;
        e.runs_root = dir / name;
        e.settle = 0s;
        e.watch = false;
        e.cleanup_enabled = false;
        e.max_parallel = max_parallel;
        std::get<transports::http_put_config>(e.transport).url = "http://127.0.0.1:1";
        return e;
    }
    engine::engine_config config(int global, std::vector<engine::equipment_config> equipment) {
        auto c = test::engine_config_under(dir / "engine");
        c.cleanup_interval = std::chrono::seconds(3600);
        c.rescan_interval = std::chrono::seconds(0);
        c.max_parallel_global = global;
        c.equipment = std::move(equipment);
        return c;
    }
    // Enqueues `count` runs of `equipment` and returns their job ids.
    std::vector<std::int64_t> enqueue_runs(engine_runner& e, const std::string& equipment, int count) {
        std::vector<std::int64_t> ids;
        for (int i = 0; i < count; ++i) {
            const auto run = dir / equipment / ("run-" + std::to_string(i));
            test::write_file(run / "a.bin", equipment + std::to_string(i));
            test::write_file(run / "done.marker", "");
            auto res = e->enqueue(run);
            REQUIRE_FALSE(res.error);
            ids.push_back(res.job_id);
        }
        return ids;
    }
    int peak(const std::string& equipment) {
        std::lock_guard lock(remote->mutex);
        return remote->peak_by_equipment[equipment];
    }
    int peak() {
        std::lock_guard lock(remote->mutex);
        return remote->peak_in_flight;
    }
};

std::unique_ptr<engine_runner> start(parallel_fixture& f, engine::engine_config c) {
    auto r = std::make_unique<engine_runner>(std::move(c), test::fake_transport_deps(f.remote));
    REQUIRE_FALSE(r->open());
    r->start();
    return r;
}

// Every job verified, after the held pushes were let go.
void release_and_finish(parallel_fixture& f, engine_runner& e, const std::vector<std::int64_t>& ids) {
    f.remote->release_pushes();
    for (auto id : ids) REQUIRE(e.observer.wait_for(id, job_state::verified));
}

}  // namespace

TEST_CASE("engine: an equipment ships at most max_parallel runs at once", "[engine][parallel]") {
    parallel_fixture f;
    f.remote->hold_push = true;
    auto e = start(f, f.config(8, {f.equipment("scope-1", 2)}));
    const auto ids = f.enqueue_runs(*e, "scope-1", 5);
    REQUIRE(f.remote->wait_in_flight(2));
    // A third push would start now if the limit leaked; give it the time a push takes to start.
    CHECK_FALSE(f.remote->wait_in_flight(3, 500ms));
    release_and_finish(f, *e, ids);
    CHECK(f.peak("scope-1") == 2);
}

TEST_CASE("engine: all equipment together ship at most max_parallel_global runs", "[engine][parallel]") {
    parallel_fixture f;
    f.remote->hold_push = true;
    auto e = start(f, f.config(3, {f.equipment("scope-1", 3), f.equipment("scope-2", 3)}));
    auto ids = f.enqueue_runs(*e, "scope-1", 3);
    const auto more = f.enqueue_runs(*e, "scope-2", 3);
    ids.insert(ids.end(), more.begin(), more.end());
    REQUIRE(f.remote->wait_in_flight(3));
    CHECK_FALSE(f.remote->wait_in_flight(4, 500ms));
    release_and_finish(f, *e, ids);
    CHECK(f.peak() == 3);
    CHECK(f.peak("scope-1") <= 3);
    CHECK(f.peak("scope-2") <= 3);
}

TEST_CASE("engine: a due job behind a page of jobs in backoff is still picked", "[engine][parallel]") {
    // The worker reads the oldest few queued jobs first and the whole list only when none of them
    // is due: ten jobs waiting out a long backoff must not hide the eleventh and twelfth.
    parallel_fixture f;
    for (int i = 0; i < 10; ++i)
        f.remote->push_script.push_back(
            transports::transport_result::failure(transports::error_kind::network, "scripted"));
    auto c = f.config(1, {f.equipment("scope-1", 1)});
    c.backoff = {std::chrono::hours(1), std::chrono::hours(2), 10};
    auto e = start(f, std::move(c));
    const auto ids = f.enqueue_runs(*e, "scope-1", 12);
    REQUIRE(e->observer.wait_for(ids[10], job_state::verified));
    REQUIRE(e->observer.wait_for(ids[11], job_state::verified));
    for (int i = 0; i < 10; ++i) CHECK((*e)->find_job(ids[i]).value.state == job_state::queued);
}
