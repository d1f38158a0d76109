// Group commit (job_store::transition_all, commit_queue): independent transitions share one
// commit, a refused one leaves no trace and does not take the others down, and every caller is
// told only once its transition is committed (visible to another connection).

#include <catch2/catch.hpp>

#include <SQLiteCpp/Database.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "labsync/queue/commit_queue.hpp"
#include "labsync/queue/job_store.hpp"
#include "store_fixture.hpp"
#include "temp_dir.hpp"

using namespace labsync::queue;
using namespace labsync::queue::test;
using labsync::test::temp_dir;

namespace {

std::vector<std::int64_t> make_jobs(job_store& store, int n) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < n; ++i) ids.push_back(make_job(store, "scope", "run-" + std::to_string(i)).id);
    return ids;
}

}  // namespace

TEST_CASE("group commit: transition_all writes independent transitions in one commit", "[store][group]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    const auto ids = make_jobs(store, 5);
    std::vector<transition_request> requests;
    for (auto id : ids) requests.push_back({id, job_state::running, {.message = "group"}});
    // The third one is refused (queued -> verified is not a transition): it writes nothing.
    requests[2].to = job_state::verified;

    const auto before = store.commit_count();
    auto outcomes = store.transition_all(requests);
    CHECK(store.commit_count() - before == 1);
    REQUIRE(outcomes.size() == 5);
    for (std::size_t i = 0; i < 5; ++i) {
        INFO(i << ": " << outcomes[i].message);
        CHECK(static_cast<bool>(outcomes[i]) == (i == 2));
    }
    CHECK(outcomes[2].code == errc::illegal_transition);
    for (std::size_t i = 0; i < 5; ++i) {
        auto j = store.find(ids[i]);
        CHECK(j->state == (i == 2 ? job_state::queued : job_state::running));
        CHECK(store.events(ids[i])->size() == (i == 2 ? 1u : 2u));  // created (+ the transition)
    }
    // An unknown job is refused the same way, and an empty group commits nothing.
    auto missing = store.transition_all({{999, job_state::running, {}}});
    CHECK(missing[0].code == errc::job_not_found);
    const auto after = store.commit_count();
    CHECK(store.transition_all({}).empty());
    CHECK(store.commit_count() == after);
}

TEST_CASE("group commit: one transition per commit without grouping", "[store][group]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    const auto ids = make_jobs(store, 3);
    const auto before = store.commit_count();
    for (auto id : ids) move(store, id, job_state::running);
    CHECK(store.commit_count() - before == 3);  // what commit_count counts: one per transaction
}

TEST_CASE("group commit: concurrent submissions share commits and each is durable when reported",
          "[store][group]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    constexpr int n = 20;
    const auto ids = make_jobs(store, n);
    const auto db_path = (dir / "jobs.db").string();
    // A second connection (another process) holds the write lock while all n are submitted, so
    // the store thread is at most in one group when they arrive: two commits at most.
    auto blocker = std::make_unique<SQLite::Database>(db_path, SQLite::OPEN_READWRITE);
    blocker->exec("BEGIN IMMEDIATE");
    const auto before = store.commit_count();
    std::vector<std::future<bool>> durable;
    {
        commit_queue commits(store);
        for (auto id : ids) {
            auto promise = std::make_shared<std::promise<bool>>();
            durable.push_back(promise->get_future());
            commits.submit({id, job_state::running, {.message = "grouped"}},
                           [promise, id, db_path](store_error err) {
                               if (err) return promise->set_value(false);
                               // Told only after the commit: another connection sees it already.
                               SQLite::Database reader(db_path, SQLite::OPEN_READONLY);
                               SQLite::Statement q(reader, "SELECT state FROM jobs WHERE id = ?");
                               q.bind(1, static_cast<int64_t>(id));
                               promise->set_value(q.executeStep() && q.getColumn(0).getString() == "running");
                           });
        }
        blocker->exec("ROLLBACK");
        blocker.reset();
        for (auto& d : durable) CHECK(d.get());
        CHECK(commits.groups() <= 2);
    }
    CHECK(store.commit_count() - before <= 2);
    CHECK(store.commit_count() - before >= 1);
    CHECK(store.jobs_in_state(job_state::running)->size() == static_cast<std::size_t>(n));
}

TEST_CASE("group commit: a refused transition in a group reaches its own caller only", "[store][group]") {
    temp_dir dir;
    fake_clock clock;
    auto store = open_store(dir, clock);
    const auto ids = make_jobs(store, 2);
    std::promise<store_error> ok, refused;
    {
        commit_queue commits(store);
        commits.submit({ids[0], job_state::running, {}},
                       [&ok](store_error e) { ok.set_value(std::move(e)); });
        commits.submit({ids[1], job_state::cleaned, {}},
                       [&refused](store_error e) { refused.set_value(std::move(e)); });
    }  // the destructor writes what is still waiting
    CHECK_FALSE(ok.get_future().get());
    CHECK(refused.get_future().get().code == errc::illegal_transition);
    CHECK(store.find(ids[0])->state == job_state::running);
    CHECK(store.find(ids[1])->state == job_state::queued);
}
