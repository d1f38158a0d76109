// The crash test: queue_crash_child performs transitions in a loop and is SIGKILLed at random
// moments, over and over on the same store. After every kill the store must pass
// PRAGMA integrity_check, every job must be in a state the child announced (its last committed
// state or the one it was writing), and each job's last event must match its state (the job row
// and its event are one transaction).

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <signal.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "labsync/queue/job_store.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

using namespace labsync::queue;
using namespace std::chrono_literals;

namespace {

struct pending_create {
    std::string run;
};

std::vector<std::string> split_lines(const std::string& out) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
        lines.push_back(out.substr(start, nl - start));
    }
    return lines;  // a trailing partial line (none expected: one write per line) is ignored
}

job_state state_of(const std::string& name) {
    auto s = job_state_from_string(name);
    if (!s) FAIL("child printed unknown state '" << name << "'");
    return *s;
}

}  // namespace

TEST_CASE("crash: SIGKILL at random moments never loses or invents a committed state", "[crash]") {
    labsync::test::temp_dir dir;
    const auto db_path = dir / "jobs.db";
    std::mt19937 rng(std::random_device{}());
    const auto seed = rng();
    INFO("rng seed " << seed);
    rng.seed(seed);

    // The states each job may be in: one, or two while a write was in flight at the kill.
    std::map<std::int64_t, std::set<job_state>> allowed;
    int rounds = 0, kills_mid_write = 0;
    const auto started = std::chrono::steady_clock::now();

    for (; rounds < 110; ++rounds) {
        INFO("round " << rounds);
        labsync::test::child_process child(
            {LABSYNC_QUEUE_CRASH_CHILD, db_path.string(), std::to_string(rounds)});
        const int lines_before_kill = std::uniform_int_distribution<int>(1, 30)(rng);
        for (int i = 0; i < lines_before_kill; ++i) {
            if (!child.wait_for_line("", 10s)) break;
        }
        // A random extra delay lands the kill anywhere inside the next write, fsync included.
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
        auto result = child.stop(SIGKILL, 10s);
        REQUIRE(result);
        INFO("child stderr: " << result->err);
        REQUIRE(result->signal == SIGKILL);  // it never stopped on its own (no error exit)
        while (child.wait_for_line("", 200ms)) {
        }

        // Replay what the child announced onto the model.
        std::optional<std::pair<std::int64_t, job_state>> in_flight;
        std::optional<pending_create> creating;
        for (const auto& line : split_lines(child.stdout_so_far())) {
            std::istringstream in(line);
            std::string word, what;
            in >> word;
            if (word == "opened") continue;
            in >> what;
            if (word == "intent" && what == "create") {
                creating = pending_create{};
                in >> creating->run;
            } else if (word == "done" && what == "create") {
                std::int64_t id;
                std::string run, state;
                in >> id >> run >> state;
                allowed[id] = {state_of(state)};
                creating.reset();
            } else if (word == "intent") {
                std::string state;
                in >> state;
                in_flight = std::make_pair(std::stoll(what), state_of(state));
            } else if (word == "done") {
                std::string state;
                in >> state;
                allowed[std::stoll(what)] = {state_of(state)};
                in_flight.reset();
            } else {
                FAIL("unexpected child line '" << line << "'");
            }
        }
        if (in_flight) {
            kills_mid_write++;
            allowed[in_flight->first].insert(in_flight->second);
        }

        // The store must be intact, and each job's last event must name its state (one query:
        // events() per job per round would dominate the test's time).
        std::map<std::int64_t, std::string> last_event_state;
        {
            SQLite::Database raw(db_path.string(), SQLite::OPEN_READWRITE);
            REQUIRE(raw.execAndGet("PRAGMA integrity_check").getString() == "ok");
            SQLite::Statement q(raw,
                                "SELECT job_id, to_state FROM events WHERE id IN "
                                "(SELECT max(id) FROM events GROUP BY job_id)");
            while (q.executeStep()) last_event_state[q.getColumn(0).getInt64()] = q.getColumn(1).getString();
        }
        // ...and every job in a state the child announced.
        store_options inspect;
        inspect.replay = false;  // the next child replays, as the daemon would
        auto store = job_store::open(db_path, inspect);
        INFO(store.error().message);
        REQUIRE(store);
        auto jobs = store->list({});
        REQUIRE(jobs);
        for (const auto& j : *jobs) {
            INFO("job " << j.id << " (" << j.run_id << ") is " << to_string(j.state));
            auto it = allowed.find(j.id);
            if (it == allowed.end()) {
                // Only the create that was in flight may have committed unannounced.
                REQUIRE(creating);
                CHECK(j.run_id == creating->run);
                allowed[j.id] = {j.state};
                creating.reset();
            } else {
                CHECK(it->second.count(j.state) == 1);
            }
            CHECK(last_event_state[j.id] == to_string(j.state));
            // Next round starts from what is on disk; a running job may come back queued (replay).
            it = allowed.find(j.id);
            it->second = {j.state};
            if (j.state == job_state::running) it->second.insert(job_state::queued);
        }
        CHECK(jobs->size() == allowed.size());
    }
    const auto elapsed = std::chrono::steady_clock::now() - started;
    WARN("crash test: " << rounds << " kills, " << kills_mid_write << " with a write in flight, "
                        << allowed.size() << " jobs, "
                        << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count() << " ms");
    CHECK(rounds >= 100);
    CHECK(kills_mid_write > 0);
}
