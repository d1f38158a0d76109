// Cleanup interlocks: table cases, then a randomized model test over many generated situations
// asserting that deletion happens if and only if every interlock holds.
#include "labsync/engine/cleanup_decision.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace labsync::engine;
using labsync::queue::job_state;
using namespace std::chrono_literals;

namespace {

cleanup_situation all_good() {
    cleanup_situation s;
    s.state = job_state::cleanup_eligible;
    s.now = labsync::queue::time_point(std::chrono::hours(1000));
    s.verified_at = s.now - 48h;
    s.retention = 24h;
    s.has_verified_digest = true;
    s.remote = check_result::match;
    s.local = check_result::match;
    return s;
}

}  // namespace

TEST_CASE("cleanup: deletes only with every interlock", "[cleanup]") {
    CHECK(decide_cleanup(all_good()).action == cleanup_action::delete_run);

    auto s = all_good();
    s.verified_at = s.now - 1h;
    CHECK(decide_cleanup(s).action == cleanup_action::back_to_verified);
    s.under_watermark = true;
    auto v = decide_cleanup(s);
    CHECK(v.action == cleanup_action::delete_run);
    CHECK_THAT(v.reason, Catch::Contains("watermark"));

    s = all_good();
    s.remote = check_result::mismatch;
    CHECK(decide_cleanup(s).action == cleanup_action::reverify);
    s.remote = check_result::unknown;
    CHECK(decide_cleanup(s).action == cleanup_action::back_to_verified);

    s = all_good();
    s.local = check_result::mismatch;
    CHECK(decide_cleanup(s).action == cleanup_action::fail);
    s.remote = check_result::mismatch;  // local change wins: never touch it
    CHECK(decide_cleanup(s).action == cleanup_action::fail);

    s = all_good();
    s.state = job_state::verified;
    CHECK(decide_cleanup(s).action == cleanup_action::keep);
    s = all_good();
    s.cleanup_enabled = false;
    CHECK(decide_cleanup(s).action == cleanup_action::back_to_verified);
    s = all_good();
    s.has_verified_digest = false;
    CHECK(decide_cleanup(s).action == cleanup_action::reverify);
    s = all_good();
    s.verified_at.reset();
    CHECK(decide_cleanup(s).action == cleanup_action::back_to_verified);
}

TEST_CASE("cleanup: randomized model - never deletes unless every interlock holds", "[cleanup]") {
    std::mt19937_64 rng(20261123);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    int deletions = 0;
    for (int i = 0; i < 200'000; ++i) {
        cleanup_situation s;
        s.state = labsync::queue::all_job_states[pick(8)];
        s.cleanup_enabled = pick(4) != 0;
        s.now = labsync::queue::time_point(std::chrono::hours(10'000));
        s.retention = std::chrono::seconds(pick(3) * 3600 * 24);
        if (pick(8) != 0) s.verified_at = s.now - std::chrono::seconds(pick(4 * 24 * 3600));
        s.under_watermark = pick(3) == 0;
        s.has_verified_digest = pick(6) != 0;
        s.remote = static_cast<check_result>(pick(3));
        s.local = static_cast<check_result>(pick(3));

        const bool retention_ok = s.verified_at && s.now >= *s.verified_at + s.retention;
        const bool model_delete = s.state == job_state::cleanup_eligible && s.cleanup_enabled &&
                                  (retention_ok || s.under_watermark) && s.has_verified_digest &&
                                  s.remote == check_result::match && s.local == check_result::match;
        const auto v = decide_cleanup(s);
        INFO("case " << i << " verdict " << to_string(v.action) << ": " << v.reason);
        REQUIRE((v.action == cleanup_action::delete_run) == model_delete);
        REQUIRE_FALSE(v.reason.empty());
        // A locally changed run is never deleted and never re-shipped over: it fails for the operator.
        if (s.state == job_state::cleanup_eligible && s.local == check_result::mismatch &&
            s.cleanup_enabled && (retention_ok || s.under_watermark) && s.has_verified_digest)
            REQUIRE(v.action == cleanup_action::fail);
        if (s.state != job_state::cleanup_eligible) REQUIRE(v.action == cleanup_action::keep);
        deletions += model_delete;
    }
    CHECK(deletions > 1000);  // the generator does reach the delete branch
}

TEST_CASE("cleanup: candidates - retention passed first, then oldest first under the watermark",
          "[cleanup]") {
    using labsync::queue::job;
    const auto now = labsync::queue::time_point(std::chrono::hours(1000));
    auto make = [&](std::int64_t id, std::chrono::hours age, job_state st = job_state::verified) {
        job j;
        j.id = id;
        j.state = st;
        j.finished_at = now - age;
        return j;
    };
    std::vector<job> jobs{make(1, 1h), make(2, 30h), make(3, 5h), make(4, 50h),
                          make(5, 100h, job_state::failed)};
    auto c = select_cleanup_candidates(jobs, now, 24h, false);
    REQUIRE(c.size() == 2);
    CHECK(c[0].job_id == 4);
    CHECK(c[1].job_id == 2);
    c = select_cleanup_candidates(jobs, now, 24h, true);
    REQUIRE(c.size() == 4);
    CHECK(c[0].job_id == 4);
    CHECK(c[1].job_id == 2);
    CHECK(c[2].job_id == 3);
    CHECK_FALSE(c[2].retention_passed);
    CHECK(c[3].job_id == 1);
}
