#pragma once
// Shared helpers of the job store component tests: a hand-moved clock and REQUIRE-ing wrappers.

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "labsync/queue/job_store.hpp"
#include "temp_dir.hpp"

namespace labsync::queue::test {

// A clock the test moves by hand.
struct fake_clock {
    std::shared_ptr<time_point> now =
        std::make_shared<time_point>(std::chrono::milliseconds(1'700'000'000'000));
    clock_fn fn() const {
        auto p = now;
        return [p] { return *p; };
    }
    void advance(std::chrono::milliseconds d) const { *now += d; }
};

inline job_store open_store(const labsync::test::temp_dir& dir, const fake_clock& clock, bool replay = true) {
    store_options options;
    options.clock = clock.fn();
    options.replay = replay;
    auto store = job_store::open(dir / "jobs.db", options);
    INFO(store.error().message);
    REQUIRE(store.has_value());
    return std::move(store).value();
}

inline job make_job(job_store& store, const std::string& equipment, const std::string& run,
                    job_state initial = job_state::queued) {
    auto created =
        store.create_job(equipment, run, "/data/" + equipment + "/" + run, initial, "found by test");
    INFO(created.error().message);
    REQUIRE(created.has_value());
    return *created;
}

inline void move(job_store& store, std::int64_t id, job_state to, transition_details details = {}) {
    auto err = store.transition(id, to, details);
    INFO(err.message);
    REQUIRE_FALSE(err);
}

}  // namespace labsync::queue::test
