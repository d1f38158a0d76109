// Component tests of the operator side of the job store: override, retry, the refusal of
// engine transitions out of blocked/failed, and single ownership of a store.

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

TEST_CASE("store: override unblocks a validation block and records who and why", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto blocked = make_job(store, "e", "r", job_state::blocked_by_validation);
    auto queued = make_job(store, "e", "q");

    CHECK(store.record_override(blocked.id, "", "why").code == errc::invalid_argument);
    CHECK(store.record_override(blocked.id, "alice", "").code == errc::invalid_argument);
    auto wrong = store.record_override(queued.id, "alice", "because");
    CHECK(wrong.code == errc::illegal_transition);
    CHECK_THAT(wrong.message, Catch::Contains("not blocked_by_validation"));
    CHECK(store.overrides(queued.id)->empty());
    CHECK(store.record_override(4242, "alice", "because").code == errc::job_not_found);

    clock.advance(1s);
    auto err = store.record_override(blocked.id, "alice", "meta.json fixed by hand");
    INFO(err.message);
    REQUIRE_FALSE(err);
    CHECK(store.find(blocked.id)->state == job_state::queued);
    auto rows = store.overrides(blocked.id);
    REQUIRE(rows);
    REQUIRE(rows->size() == 1);
    CHECK((*rows)[0].who == "alice");
    CHECK((*rows)[0].why == "meta.json fixed by hand");
    CHECK((*rows)[0].at == *clock.now);
    auto events = store.events(blocked.id);
    CHECK(events->back().kind == event_kind::override);
    CHECK(events->back().from_state == job_state::blocked_by_validation);
    CHECK_THAT(events->back().message, Catch::Contains("alice"));
    // Once queued there is nothing left to override.
    CHECK(store.record_override(blocked.id, "bob", "again").code == errc::illegal_transition);
    CHECK(store.overrides(blocked.id)->size() == 1);
}

TEST_CASE("store: retry puts a failed job back in the queue with attempts reset", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto j = make_job(store, "e", "r");
    CHECK(store.retry(j.id, "alice").code == errc::illegal_transition);
    move(store, j.id, job_state::running, {.attempts = attempts_update::increment});
    move(store, j.id, job_state::failed,
         {.message = "auth", .error = error_info{"auth", "401"}, .attempts = attempts_update::increment});
    CHECK(store.find(j.id)->finished_at.has_value());
    CHECK(store.retry(j.id, "").code == errc::invalid_argument);
    auto err = store.retry(j.id, "alice");
    INFO(err.message);
    REQUIRE_FALSE(err);
    auto after = store.find(j.id);
    CHECK(after->state == job_state::queued);
    CHECK(after->attempts == 0);
    CHECK_FALSE(after->last_error_kind);
    CHECK_FALSE(after->finished_at);
    auto events = store.events(j.id);
    CHECK(events->back().kind == event_kind::retry);
    CHECK_THAT(events->back().message, Catch::Contains("alice") && Catch::Contains("auth: 401"));
}
TEST_CASE("store: cancel ends a queued or awaiting_verify job failed, recorded with who and why", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto queued = make_job(store, "e", "q");
    auto verifying = make_job(store, "e", "v");
    move(store, verifying.id, job_state::running);
    move(store, verifying.id, job_state::awaiting_verify);
    auto running = make_job(store, "e", "run");
    move(store, running.id, job_state::running);
    auto blocked = make_job(store, "e", "b", job_state::blocked_by_validation);

    CHECK(store.cancel(queued.id, "", "why").code == errc::invalid_argument);
    CHECK(store.cancel(queued.id, "alice", "").code == errc::invalid_argument);
    CHECK(store.cancel(4242, "alice", "gone").code == errc::job_not_found);
    for (auto id : {running.id, blocked.id}) {
        const auto before = store.find(id)->state;
        auto err = store.cancel(id, "alice", "gone");
        CHECK(err.code == errc::illegal_transition);
        CHECK_THAT(err.message, Catch::Contains("only a queued or awaiting_verify job"));
        CHECK(store.find(id)->state == before);
    }
    clock.advance(1s);
    for (auto id : {queued.id, verifying.id}) {
        const auto from = store.find(id)->state;
        auto err = store.cancel(id, "alice", "equipment retired");
        INFO(err.message);
        REQUIRE_FALSE(err);
        auto after = store.find(id);
        CHECK(after->state == job_state::failed);
        CHECK(after->last_error_kind == std::string(cancelled_error_kind));
        CHECK(after->last_error == "cancel by alice: equipment retired");
        CHECK(after->finished_at == *clock.now);
        auto events = store.events(id);
        CHECK(events->back().kind == event_kind::cancel);
        CHECK(events->back().from_state == from);
        CHECK(events->back().to_state == job_state::failed);
        CHECK(events->back().message == "cancel by alice: equipment retired");
    }
    // Failed holds the run's slot (no new job for it) and is terminal until an operator retries.
    CHECK(store.create_job("e", "q", "/runs/q", job_state::queued, "again").code() ==
          errc::duplicate_live_job);
    CHECK(store.cancel(queued.id, "alice", "twice").code == errc::illegal_transition);
    REQUIRE_FALSE(store.retry(queued.id, "bob", "client-supplied name: carol"));
    CHECK(store.find(queued.id)->state == job_state::queued);
    CHECK_THAT(store.events(queued.id)->back().message,
               Catch::StartsWith("retry by bob (client-supplied name: carol)"));
}

TEST_CASE("store: leaving blocked_by_validation or failed is an operator action", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto blocked = make_job(store, "e", "b", job_state::blocked_by_validation);
    auto failed = make_job(store, "e", "f");
    move(store, failed.id, job_state::failed);
    for (auto id : {blocked.id, failed.id}) {
        const auto events_before = store.events(id)->size();
        auto err = store.transition(id, job_state::queued, {.message = "engine"});
        CHECK(err.code == errc::illegal_transition);
        CHECK_THAT(err.message, Catch::Contains("operator action"));
        CHECK(store.events(id)->size() == events_before);
    }
    CHECK(store.find(blocked.id)->state == job_state::blocked_by_validation);
    CHECK(store.find(failed.id)->state == job_state::failed);
}

TEST_CASE("store: one owner at a time while inspecting opens need no ownership", "[store]") {
    temp_dir dir;
    fake_clock clock;
    {
        auto owner = open_store(dir, clock);
        auto second = job_store::open(dir / "jobs.db");
        REQUIRE_FALSE(second);
        CHECK(second.code() == errc::store_in_use);
        CHECK_THAT(second.error().message, Catch::Contains("jobs.db.lock"));
        auto inspect = open_store(dir, clock, /*replay=*/false);
        CHECK(inspect.list({})->empty());
    }
    // Closing the owner releases the store.
    auto next_owner = job_store::open(dir / "jobs.db");
    INFO(next_owner.error().message);
    CHECK(next_owner);
}

TEST_CASE("store: a job created blocked carries why in last_error until an override clears it", "[store]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    auto created = store.create_job("e", "r", "/data/e/r", job_state::blocked_by_validation, "blocked",
                                    error_info{"validation", "[symlink_escape] symlink 'x' points outside"});
    REQUIRE(created);
    auto blocked = store.find(created->id);
    REQUIRE(blocked);
    CHECK(blocked->last_error_kind == "validation");
    CHECK(blocked->last_error == "[symlink_escape] symlink 'x' points outside");
    REQUIRE_FALSE(store.record_override(created->id, "alice", "known link"));
    auto released = store.find(created->id);
    CHECK(released->state == job_state::queued);
    CHECK_FALSE(released->last_error_kind);
    CHECK_FALSE(released->last_error);
}
