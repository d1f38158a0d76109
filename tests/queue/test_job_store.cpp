// Component tests of the job store's API on real SQLite files in temp dirs: creation and the
// one-live-job rule, transitions with their events and timings, replay, queries, concurrency.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "labsync/queue/job_store.hpp"
#include "labsync/queue/state_machine.hpp"
#include "store_fixture.hpp"
#include "temp_dir.hpp"

using namespace labsync::queue;
using namespace labsync::queue::test;
using labsync::test::temp_dir;
using namespace std::chrono_literals;

TEST_CASE("store: a created job is queued with a created event", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto j = make_job(store, "scope-1", "run-7");
    CHECK(j.id > 0);
    CHECK(j.state == job_state::queued);
    CHECK(j.attempts == 0);
    CHECK(j.run_path == "/data/scope-1/run-7");
    CHECK(j.created_at == *clock.now);
    CHECK_FALSE(j.next_attempt_at);

    auto found = store.find(j.id);
    REQUIRE(found);
    CHECK(found->run_id == "run-7");
    auto events = store.events(j.id);
    REQUIRE(events);
    REQUIRE(events->size() == 1);
    CHECK((*events)[0].kind == event_kind::created);
    CHECK_FALSE((*events)[0].from_state);
    CHECK((*events)[0].to_state == job_state::queued);
    CHECK((*events)[0].message == "found by test");
}

TEST_CASE("store: a second live job for the same run is refused with the existing id", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto first = make_job(store, "scope-1", "run-7");
    auto second = store.create_job("scope-1", "run-7", "/elsewhere", job_state::queued, "again");
    REQUIRE_FALSE(second);
    CHECK(second.code() == errc::duplicate_live_job);
    CHECK(second.error().job_id == first.id);
    CHECK_THAT(second.error().message, Catch::Contains("scope-1/run-7"));

    // Same run id on other equipment is another run.
    make_job(store, "scope-2", "run-7");

    // A failed job still holds the slot (the operator retries it).
    move(store, first.id, job_state::failed,
         {.message = "gone", .error = error_info{"local_file_vanished", "x"}});
    CHECK(store.create_job("scope-1", "run-7", "/p", job_state::queued, "").code() ==
          errc::duplicate_live_job);

    // Only cleaned frees it.
    REQUIRE_FALSE(store.retry(first.id, "alice"));
    for (auto to : {job_state::running, job_state::awaiting_verify, job_state::verified,
                    job_state::cleanup_eligible, job_state::cleaned}) {
        move(store, first.id, to);
    }
    auto third = store.create_job("scope-1", "run-7", "/p", job_state::queued, "re-acquired");
    REQUIRE(third);
    CHECK(third->id != first.id);
    auto live = store.find_live("scope-1", "run-7");
    REQUIRE(live);
    REQUIRE(live->has_value());
    CHECK((*live)->id == third->id);
}

TEST_CASE("store: bad names and initial states are refused", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    CHECK(store.create_job("bad name", "r", "/p", job_state::queued, "").code() == errc::invalid_argument);
    CHECK(store.create_job("", "r", "/p", job_state::queued, "").code() == errc::invalid_argument);
    CHECK(store.create_job(std::string(65, 'e'), "r", "/p", job_state::queued, "").code() ==
          errc::invalid_argument);
    CHECK(store.create_job("e", "../x", "/p", job_state::queued, "").code() == errc::invalid_argument);
    CHECK(store.create_job("e", "..", "/p", job_state::queued, "").code() == errc::invalid_argument);
    CHECK(store.create_job("e", std::string(129, 'r'), "/p", job_state::queued, "").code() ==
          errc::invalid_argument);
    CHECK(store.create_job("e", "r", "", job_state::queued, "").code() == errc::invalid_argument);
    CHECK(store.create_job("e", "r", "/p", job_state::running, "").code() == errc::invalid_argument);
    CHECK(store.create_job("e", std::string(128, 'r'), "/p", job_state::queued, "").has_value());
    auto blocked = store.create_job("e.1_x-Y", "r", "/p", job_state::blocked_by_validation, "hard finding");
    REQUIRE(blocked);
    CHECK(blocked->state == job_state::blocked_by_validation);
}

TEST_CASE("store: transitions update the job, stamp timings and append events", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto j = make_job(store, "seq", "r1");
    const auto t0 = *clock.now;

    clock.advance(1s);
    move(store, j.id, job_state::running, {.message = "picked", .attempts = attempts_update::increment});
    clock.advance(1s);
    const auto retry_at = *clock.now + 30s;
    move(store, j.id, job_state::queued,
         {.message = "network",
          .error = error_info{"network", "connection reset"},
          .next_attempt_at = retry_at});
    auto q = store.find(j.id);
    REQUIRE(q);
    CHECK(q->state == job_state::queued);
    CHECK(q->attempts == 1);
    CHECK(q->next_attempt_at == retry_at);
    CHECK(q->last_error_kind == "network");
    CHECK(q->last_error == "connection reset");
    CHECK(q->started_at == t0 + 1s);
    CHECK_FALSE(q->finished_at);

    clock.advance(30s);
    move(store, j.id, job_state::running, {.message = "again", .attempts = attempts_update::increment});
    clock.advance(2s);
    move(store, j.id, job_state::awaiting_verify,
         {.message = "shipped",
          .clear_error = true,
          .bytes = 12345,
          .manifest_digest = "md",
          .archive_sha256 = "ab"});
    clock.advance(1s);
    move(store, j.id, job_state::verified, {.message = "remote matches"});
    auto v = store.find(j.id);
    REQUIRE(v);
    CHECK(v->attempts == 2);
    CHECK_FALSE(v->next_attempt_at);  // always written: nothing given = NULL
    CHECK_FALSE(v->last_error_kind);
    CHECK_FALSE(v->last_error);
    CHECK(v->bytes == 12345);
    CHECK(v->manifest_digest == "md");
    CHECK(v->archive_sha256 == "ab");
    CHECK(v->started_at == t0 + 32s);
    CHECK(v->finished_at == t0 + 35s);
    CHECK(v->updated_at == t0 + 35s);
    CHECK(v->created_at == t0);

    // Fields left empty keep their value.
    move(store, j.id, job_state::cleanup_eligible,
         {.message = "retention passed", .attempts = attempts_update::reset});
    auto c = store.find(j.id);
    REQUIRE(c);
    CHECK(c->bytes == 12345);
    CHECK(c->archive_sha256 == "ab");
    CHECK(c->attempts == 0);

    auto events = store.events(j.id);
    REQUIRE(events);
    std::vector<std::pair<job_state, job_state>> path;
    for (std::size_t i = 1; i < events->size(); ++i) {
        REQUIRE((*events)[i].from_state);
        path.emplace_back(*(*events)[i].from_state, (*events)[i].to_state);
        CHECK((*events)[i].kind == event_kind::transition);
    }
    using s = job_state;
    CHECK(path == std::vector<std::pair<s, s>>{{s::queued, s::running},
                                               {s::running, s::queued},
                                               {s::queued, s::running},
                                               {s::running, s::awaiting_verify},
                                               {s::awaiting_verify, s::verified},
                                               {s::verified, s::cleanup_eligible}});
    CHECK((*events)[2].message == "network");
    CHECK((*events)[2].at == t0 + 2s);
}

TEST_CASE("store: an illegal transition is refused and writes nothing", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto j = make_job(store, "seq", "r1");
    move(store, j.id, job_state::running);
    auto before = store.find(j.id);
    REQUIRE(before);

    clock.advance(5s);
    auto err = store.transition(j.id, job_state::cleaned, {.message = "skip verification", .bytes = 1});
    CHECK(err.code == errc::illegal_transition);
    CHECK_THAT(err.message, Catch::Contains("running -> cleaned"));
    CHECK_THAT(err.message, Catch::Contains("job " + std::to_string(j.id)));
    auto after = store.find(j.id);
    REQUIRE(after);
    CHECK(after->state == job_state::running);
    CHECK(after->updated_at == before->updated_at);
    CHECK_FALSE(after->bytes);
    CHECK(store.events(j.id)->size() == 2);

    CHECK(store.transition(j.id, job_state::running, {}).code == errc::illegal_transition);
    CHECK(store.transition(999, job_state::running, {}).code == errc::job_not_found);
    CHECK(store.find(999).code() == errc::job_not_found);
}

TEST_CASE("store: open replays running jobs to queued and reports the rest", "[store]") {
    temp_dir dir;
    fake_clock clock;
    std::int64_t was_running = 0, was_verifying = 0, was_cleaning = 0, was_queued = 0;
    {
        auto store = open_store(dir, clock);
        was_running = make_job(store, "e", "a").id;
        was_verifying = make_job(store, "e", "b").id;
        was_cleaning = make_job(store, "e", "c").id;
        was_queued = make_job(store, "e", "d").id;
        move(store, was_running, job_state::running);
        for (auto to : {job_state::running, job_state::awaiting_verify}) move(store, was_verifying, to);
        for (auto to : {job_state::running, job_state::awaiting_verify, job_state::verified,
                        job_state::cleanup_eligible}) {
            move(store, was_cleaning, to);
        }
        CHECK(store.replayed().requeued.empty());
        CHECK(store.replayed().from_schema_version == 0);
    }
    {
        // An inspecting open changes nothing.
        auto inspect = open_store(dir, clock, /*replay=*/false);
        CHECK(inspect.find(was_running)->state == job_state::running);
        CHECK(inspect.replayed().requeued.empty());
    }
    clock.advance(1min);
    auto store = open_store(dir, clock);
    const auto& report = store.replayed();
    CHECK(report.requeued == std::vector<std::int64_t>{was_running});
    CHECK(report.to_reverify == std::vector<std::int64_t>{was_verifying});
    CHECK(report.cleanup_pending == std::vector<std::int64_t>{was_cleaning});
    CHECK(report.from_schema_version == job_store::current_schema_version());
    CHECK(store.find(was_running)->state == job_state::queued);
    CHECK(store.find(was_verifying)->state == job_state::awaiting_verify);
    CHECK(store.find(was_queued)->state == job_state::queued);
    auto events = store.events(was_running);
    REQUIRE(events);
    CHECK(events->back().kind == event_kind::replay);
    CHECK(events->back().message == "replayed after restart");
    CHECK(events->back().at == *clock.now);
    // The replayed job is due at once.
    auto due = store.next_due("e", *clock.now);
    REQUIRE(due);
    REQUIRE(due->has_value());
    CHECK((*due)->id == was_running);
}
TEST_CASE("store: queries for the engine and the admin socket", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    const auto now = *clock.now;
    auto a = make_job(store, "scope", "a");
    auto b = make_job(store, "scope", "b");
    auto c = make_job(store, "scope", "c");
    auto other = make_job(store, "seq", "x");
    make_job(store, "seq", "y", job_state::blocked_by_validation);

    CHECK(store.earliest_next_attempt("nothing")->has_value() == false);
    // a waits for a backoff, b is running, c is due now.
    move(store, a.id, job_state::running);
    move(store, a.id, job_state::queued, {.next_attempt_at = now + 10s});
    move(store, b.id, job_state::running);
    auto due = store.next_due("scope", now);
    REQUIRE(due);
    REQUIRE(due->has_value());
    CHECK((*due)->id == c.id);
    CHECK(**store.earliest_next_attempt("scope") <= now);  // c is due already

    move(store, c.id, job_state::running);
    CHECK_FALSE(store.next_due("scope", now)->has_value());
    CHECK(**store.earliest_next_attempt("scope") == now + 10s);
    auto later = store.next_due("scope", now + 10s);
    REQUIRE(later->has_value());
    CHECK((*later)->id == a.id);
    CHECK((*store.next_due("seq", now))->id == other.id);

    auto counts = store.counts();
    REQUIRE(counts);
    CHECK((*counts)["scope"][job_state::queued] == 1);
    CHECK((*counts)["scope"][job_state::running] == 2);
    CHECK((*counts)["seq"][job_state::queued] == 1);
    CHECK((*counts)["seq"][job_state::blocked_by_validation] == 1);
    CHECK((*counts)["scope"].count(job_state::failed) == 0);

    auto running = store.jobs_in_state(job_state::running);
    REQUIRE(running);
    REQUIRE(running->size() == 2);
    CHECK((*running)[0].id == b.id);
    CHECK((*running)[1].id == c.id);

    auto newest = store.list({.equipment = "scope", .limit = 2, .newest_first = true});
    REQUIRE(newest);
    REQUIRE(newest->size() == 2);
    CHECK((*newest)[0].id == c.id);
    CHECK((*newest)[1].id == b.id);
    auto by_run = store.list({.equipment = "seq", .run_id = "y"});
    REQUIRE(by_run->size() == 1);
    CHECK((*by_run)[0].state == job_state::blocked_by_validation);
    CHECK(store.list({})->size() == 5);

    auto names = store.equipment_names();
    REQUIRE(names);
    CHECK(*names == std::vector<std::string>{"scope", "seq"});
}

TEST_CASE("store: concurrent callers on one store and two connections stay consistent", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&store, t] {
            for (int i = 0; i < 10; ++i) {
                auto j = store.create_job("e" + std::to_string(t), "r" + std::to_string(i), "/p",
                                          job_state::queued, "");
                if (!j) continue;
                (void)store.transition(j->id, job_state::running, {});
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(store.jobs_in_state(job_state::running)->size() == 40);

    // A second connection (another process, say) sees the current state inside its transaction:
    // it cannot act on a stale read.
    auto second = open_store(dir, clock, /*replay=*/false);
    auto j = make_job(store, "e9", "r");
    auto stale = second.find(j.id);
    REQUIRE(stale->state == job_state::queued);
    move(store, j.id, job_state::running);
    auto err = second.transition(j.id, job_state::running, {});
    CHECK(err.code == errc::illegal_transition);
    CHECK_THAT(err.message, Catch::Contains("running -> running"));
}
