// Every (from, to) pair of job states against an explicit table of the allowed ones, so a change
// to state_machine.cpp that is not also made here (and in the docs) fails.

#include <catch2/catch.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "labsync/queue/errc.hpp"
#include "labsync/queue/state_machine.hpp"

using labsync::queue::all_job_states;
using labsync::queue::job_state;
using labsync::queue::state_machine;
using s = job_state;

namespace {

const std::set<std::pair<job_state, job_state>> expected_allowed = {
    {s::queued, s::running},
    {s::queued, s::failed},
    {s::queued, s::blocked_by_validation},
    {s::running, s::awaiting_verify},
    {s::running, s::queued},
    {s::running, s::failed},
    {s::awaiting_verify, s::verified},
    {s::awaiting_verify, s::queued},
    {s::awaiting_verify, s::failed},
    {s::verified, s::cleanup_eligible},
    {s::verified, s::awaiting_verify},
    {s::cleanup_eligible, s::cleaned},
    {s::cleanup_eligible, s::verified},
    {s::cleanup_eligible, s::awaiting_verify},
    {s::cleanup_eligible, s::failed},
    {s::blocked_by_validation, s::queued},
    {s::failed, s::queued},
};

std::string name(job_state st) {
    return std::string(labsync::queue::to_string(st));
}

}  // namespace

TEST_CASE("state machine: every pair of states is allowed or refused as the table says", "[state_machine]") {
    int allowed = 0;
    int refused = 0;
    for (auto from : all_job_states) {
        for (auto to : all_job_states) {
            INFO(name(from) << " -> " << name(to));
            const bool expect = expected_allowed.count({from, to}) == 1;
            CHECK(state_machine::allowed(from, to) == expect);
            auto ec = state_machine::check(from, to);
            if (expect) {
                CHECK_FALSE(ec);
                ++allowed;
            } else {
                CHECK(ec == labsync::queue::errc::illegal_transition);
                CHECK(ec.category() == labsync::queue::queue_category());
                auto text = state_machine::describe_refusal(from, to);
                CHECK_THAT(text, Catch::Contains(name(from) + " -> " + name(to)));
                ++refused;
            }
        }
    }
    CHECK(allowed == 17);
    CHECK(refused == 64 - 17);
}

TEST_CASE("state machine: successors list exactly the allowed targets", "[state_machine]") {
    for (auto from : all_job_states) {
        auto next = state_machine::successors(from);
        std::set<job_state> got(next.begin(), next.end());
        CHECK(got.size() == next.size());  // no duplicates
        for (auto to : all_job_states) {
            CHECK((got.count(to) == 1) == state_machine::allowed(from, to));
        }
    }
}

TEST_CASE("state machine: no self-transitions, cleaned is final, failed only leaves by retry",
          "[state_machine]") {
    for (auto st : all_job_states) CHECK_FALSE(state_machine::allowed(st, st));
    CHECK(state_machine::successors(s::cleaned).empty());
    CHECK(state_machine::is_terminal(s::cleaned));
    CHECK(state_machine::is_terminal(s::failed));
    CHECK_FALSE(state_machine::is_terminal(s::queued));
    auto from_failed = state_machine::successors(s::failed);
    REQUIRE(from_failed.size() == 1);
    CHECK(from_failed[0] == s::queued);
    CHECK_THAT(state_machine::describe_refusal(s::cleaned, s::queued), Catch::Contains("final"));
}

TEST_CASE("state machine: nothing reaches cleaned without passing verified", "[state_machine]") {
    // Breadth-first search from queued over edges that avoid `verified`: cleaned must be unreachable,
    // so no table edit can let the engine delete data that was never proven remote.
    std::set<job_state> seen{s::queued};
    std::vector<job_state> frontier{s::queued};
    while (!frontier.empty()) {
        auto from = frontier.back();
        frontier.pop_back();
        for (auto to : state_machine::successors(from)) {
            if (to == s::verified || seen.count(to)) continue;
            seen.insert(to);
            frontier.push_back(to);
        }
    }
    CHECK(seen.count(s::cleaned) == 0);
    CHECK(seen.count(s::cleanup_eligible) == 0);
}

TEST_CASE("job states round-trip through their stored names", "[state_machine]") {
    for (auto st : all_job_states) {
        auto back = labsync::queue::job_state_from_string(labsync::queue::to_string(st));
        REQUIRE(back.has_value());
        CHECK(*back == st);
    }
    CHECK_FALSE(labsync::queue::job_state_from_string("Queued").has_value());
    CHECK_FALSE(labsync::queue::job_state_from_string("").has_value());
}
