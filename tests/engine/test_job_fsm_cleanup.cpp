// job_fsm's cleanup pass by action logs (SPEC §10 interlocks), the one remote comparison shared
// by verification and cleanup, and the pick policy.
#include "job_fsm_script.hpp"

using namespace labsync::test::fsm;
namespace queue = labsync::queue;
namespace transports = labsync::transports;
namespace verifier = labsync::verifier;

TEST_CASE("job_fsm: cleanup deletes only when every interlock holds", "[fsm][cleanup]") {
    fixture f;
    const auto eligible = [] { return shipped_job(job_state::cleanup_eligible); };
    SECTION("all hold: delete, then cleaned") {
        auto fsm = job_fsm::cleanup(eligible(), f.context());
        auto log = play(fsm, {ev::built{built()}, probe_manifest(), ev::deleted{}, ok});
        CHECK(log.names == names{"build_manifest", "probe", "delete_run", "commit cleaned", "done"});
        CHECK_FALSE(log.actions[0].report_progress);
        CHECK_FALSE(log.actions[1].report_progress);
        CHECK_THAT(log.actions[3].details.message, Catch::StartsWith("cleaned: verified, retention passed"));
        CHECK_THAT(log.actions[4].log, Catch::Contains("local run deleted"));
    }
    SECTION("the run is already gone (deletion interrupted): no hashing, cleaned") {
        auto c = f.context();
        c.run_gone = true;
        auto fsm = job_fsm::cleanup(eligible(), c);
        auto log = play(fsm, {probe_manifest(), ev::deleted{}, ok});
        CHECK(log.names == names{"probe", "delete_run", "commit cleaned", "done"});
        CHECK_THAT(log.actions[2].details.message,
                   Catch::StartsWith("cleaned: the local run was already gone"));
    }
    SECTION("deleting fails: back to verified") {
        auto fsm = job_fsm::cleanup(eligible(), f.context());
        auto log = play(fsm, {ev::built{built()}, probe_manifest(),
                              ev::deleted{std::make_error_code(std::errc::permission_denied), "data"}, ok});
        CHECK(log.names == names{"build_manifest", "probe", "delete_run", "commit verified", "done"});
        CHECK(log.actions[3].details.error->kind == "cleanup_failed");
    }
    SECTION("local files changed: failed, kept, said at warning") {
        auto fsm = job_fsm::cleanup(eligible(), f.context());
        auto log = play(fsm, {ev::built{built('x')}, probe_manifest(), ok});
        CHECK(log.names == names{"build_manifest", "probe", "commit failed", "done"});
        CHECK(log.actions[2].details.error->kind == "local_changed");
        CHECK(log.actions[2].level == log_level::warning);
    }
    SECTION("a directory added (tree digest): failed") {
        auto b = built();
        b.directories.push_back("new-empty-dir");
        auto fsm = job_fsm::cleanup(eligible(), f.context());
        auto log = play(fsm, {ev::built{std::move(b)}, probe_manifest(), ok});
        CHECK(log.names.at(2) == "commit failed");
        CHECK_THAT(log.actions[2].details.message, Catch::Contains("entries added or removed"));
    }
    SECTION("the remote no longer matches: awaiting_verify, then handed to a worker") {
        auto fsm = job_fsm::cleanup(eligible(), f.context());
        auto log = play(fsm, {ev::built{built()}, probe_manifest('z'), ok, ev::performed{}});
        CHECK(log.names ==
              names{"build_manifest", "probe", "commit awaiting_verify", "schedule_verify", "done"});
    }
    SECTION("the remote says its bytes are damaged (409): re-verify") {
        auto fsm = job_fsm::cleanup(shipped_job(job_state::cleanup_eligible, sha_a), f.context());
        auto log =
            play(fsm, {ev::built{built()}, probe_failed(error_kind::hash_mismatch), ok, ev::performed{}});
        CHECK(log.names.at(2) == "commit awaiting_verify");
    }
    SECTION("the remote could not be asked: back to verified, later") {
        auto fsm = job_fsm::cleanup(eligible(), f.context());
        auto log = play(fsm, {ev::built{built()}, probe_failed(error_kind::network), ok});
        CHECK(log.names == names{"build_manifest", "probe", "commit verified", "done"});
    }
    SECTION("cleanup disabled meanwhile: back to verified") {
        auto fsm = job_fsm::cleanup(eligible(), f.context(false));
        CHECK(play(fsm, {ev::built{built()}, probe_manifest(), ok}).names ==
              names{"build_manifest", "probe", "commit verified", "done"});
    }
    SECTION("a job that is not cleanup_eligible is kept as it is") {
        auto fsm = job_fsm::cleanup(shipped_job(job_state::verified), f.context());
        CHECK(play(fsm, {ev::built{built()}, probe_manifest()}).names ==
              names{"build_manifest", "probe", "done"});
    }
}

TEST_CASE("job_fsm: one comparison of the remote for verification and cleanup", "[fsm]") {
    const auto local = files();
    transports::remote_evidence absent;
    CHECK(judge_remote(shipped_job(job_state::verified), &local, absent).result == check_result::mismatch);
    auto by_sha = evidence_sha(sha_a);
    CHECK(judge_remote(shipped_job(job_state::verified, sha_a), nullptr, by_sha).result ==
          check_result::match);
    CHECK(judge_remote(shipped_job(job_state::verified, sha_b), nullptr, by_sha).result ==
          check_result::mismatch);
    transports::remote_evidence by_manifest;
    by_manifest.present = true;
    by_manifest.remote_manifest = files();
    CHECK(judge_remote(shipped_job(job_state::verified), nullptr, by_manifest).result == check_result::match);
    by_manifest.remote_manifest = files('q');
    const auto differs = judge_remote(shipped_job(job_state::verified), &local, by_manifest);
    CHECK(differs.result == check_result::mismatch);
    CHECK_THAT(differs.why, Catch::StartsWith("remote differs: "));
    transports::remote_evidence nothing;
    nothing.present = true;
    CHECK(judge_remote(shipped_job(job_state::verified), &local, nothing).result == check_result::unknown);
}

TEST_CASE("job_fsm: the pick policy takes the oldest due job nobody holds", "[fsm][pick]") {
    std::vector<queue::job> queued(4, job_in(job_state::queued));
    for (int i = 0; i < 4; ++i) queued[i].id = i + 1;
    queued[0].next_attempt_at = t0 + std::chrono::minutes(5);  // backing off
    std::set<std::int64_t> in_flight{2};                       // another worker has it
    std::map<std::int64_t, queue::time_point> not_before{{3, t0 + std::chrono::minutes(2)}};  // settling
    auto p = pick_due(queued, in_flight, not_before, t0);
    REQUIRE(p.index);
    CHECK(*p.index == 3);
    in_flight.insert(4);
    p = pick_due(queued, in_flight, not_before, t0);
    CHECK_FALSE(p.index);
    CHECK(p.wake_at == t0 + std::chrono::minutes(2));  // the earliest that becomes due
    CHECK_FALSE(pick_due({}, {}, {}, t0).index);
    CHECK_FALSE(pick_due({}, {}, {}, t0).wake_at);
}
