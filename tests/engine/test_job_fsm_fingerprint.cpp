// job_fsm's cleanup interlock by stat fingerprint, by action logs: what ship records, when cleanup
// walks instead of hashing, and every way back to the full re-hash.
#include "job_fsm_script.hpp"

#include "labsync/verifier/errc.hpp"

using namespace labsync::test::fsm;
namespace queue = labsync::queue;
namespace verifier = labsync::verifier;

namespace {

// A manifest pass that kept the walk's stat of its one file (as build_manifest does).
verifier::build_result built_with_stat(std::int64_t ctime_ns, std::int64_t walk_started_ns) {
    auto b = built();
    b.fingerprints = {verifier::stat_fingerprint{3, 100, ctime_ns, 42, 7}};
    b.walk_started_ns = walk_started_ns;
    return b;
}

verifier::fingerprint_result walked(char fill) {
    verifier::fingerprint_result r;
    r.digest.fill(static_cast<std::uint8_t>(fill));
    r.exact = true;
    return r;
}

queue::job fingerprinted_job(char fill = 'f') {
    auto j = shipped_job(job_state::cleanup_eligible);
    j.fingerprint_digest = verifier::to_hex(walked(fill).digest);
    return j;
}

}  // namespace

TEST_CASE("job_fsm: ship records the fingerprint of the pass that hashed the run, when exact",
          "[fsm][fingerprint]") {
    fixture f;
    const auto shipped_with = [&](verifier::build_result b) {
        auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
        auto log = play(fsm, {ok, ev::built{std::move(b)}, push_ok(), ok});
        REQUIRE(log.names.at(3) == "commit awaiting_verify");
        CHECK(fsm.job().fingerprint_digest == log.actions[3].details.fingerprint_digest);
        return log.actions[3].details.fingerprint_digest;
    };
    SECTION("every file older than the walk's tick: the digest") {
        const auto b = built_with_stat(500, 1000);
        const auto expected = verifier::to_hex(verifier::fingerprint_digest(b).digest);
        CHECK(shipped_with(b) == expected);
        CHECK(expected.size() == 64);
    }
    SECTION("a file changed in the walk's tick (racy): none, recorded as \"\" so an older one goes") {
        CHECK(shipped_with(built_with_stat(1000, 1000)) == "");
    }
    SECTION("a builder that kept no stat: none") {
        CHECK(shipped_with(built()) == "");
    }
}

TEST_CASE("job_fsm: cleanup by fingerprint reads nothing when it holds, re-hashes when it does not",
          "[fsm][fingerprint][cleanup]") {
    fixture f;
    SECTION("the fingerprint holds: probe, delete, no build_manifest") {
        auto fsm = job_fsm::cleanup(fingerprinted_job(), f.context());
        auto log = play(fsm, {ev::fingerprinted{walked('f')}, probe_manifest(), ev::deleted{}, ok});
        CHECK(log.names == names{"fingerprint", "probe", "delete_run", "commit cleaned", "done"});
        CHECK(log.actions[0].log.empty());
        CHECK_FALSE(log.actions[1].report_progress);
        CHECK(fsm.local_manifest() == nullptr);  // the remote is judged by the recorded digests
    }
    SECTION("it changed but the files did not (a touch): re-hash, logged, then cleaned") {
        auto fsm = job_fsm::cleanup(fingerprinted_job(), f.context());
        auto log = play(
            fsm, {ev::fingerprinted{walked('e')}, ev::built{built()}, probe_manifest(), ev::deleted{}, ok});
        CHECK(log.names ==
              names{"fingerprint", "build_manifest", "probe", "delete_run", "commit cleaned", "done"});
        CHECK_FALSE(log.actions[1].report_progress);
        CHECK(log.actions[1].level == log_level::info);
        CHECK(
            log.actions[1].log ==
            "seq-1/run-001: cleanup: its stat fingerprint changed since it was shipped; re-hashing the run");
    }
    SECTION("it changed and so did the files: re-hash, kept as failed") {
        auto fsm = job_fsm::cleanup(fingerprinted_job(), f.context());
        auto log = play(fsm, {ev::fingerprinted{walked('e')}, ev::built{built('x')}, probe_manifest(), ok});
        CHECK(log.names == names{"fingerprint", "build_manifest", "probe", "commit failed", "done"});
        CHECK(log.actions[3].details.error->kind == "local_changed");
    }
    SECTION("the walk failed: re-hash, which decides") {
        verifier::fingerprint_result failed;
        failed.error = make_error_code(verifier::errc::local_file_vanished);
        failed.error_path = "data";
        auto fsm = job_fsm::cleanup(fingerprinted_job(), f.context());
        auto log = play(
            fsm, {ev::fingerprinted{failed}, ev::built{build_error(failed.error)}, probe_manifest(), ok});
        CHECK(log.names == names{"fingerprint", "build_manifest", "probe", "commit failed", "done"});
        CHECK_THAT(log.actions[1].log, Catch::Contains("cannot walk it at 'data'"));
    }
    SECTION("cleanup_rehash: always the full re-hash") {
        auto c = f.context();
        c.cleanup_rehash = true;
        auto fsm = job_fsm::cleanup(fingerprinted_job(), c);
        auto log = play(fsm, {ev::built{built()}, probe_manifest(), ev::deleted{}, ok});
        CHECK(log.names == names{"build_manifest", "probe", "delete_run", "commit cleaned", "done"});
    }
    SECTION("no fingerprint recorded (shipped before schema v4, or racy): the full re-hash") {
        for (std::optional<std::string> none :
             {std::optional<std::string>{}, std::optional<std::string>{""}}) {
            auto j = fingerprinted_job();
            j.fingerprint_digest = none;
            auto fsm = job_fsm::cleanup(j, f.context());
            CHECK(play(fsm, {ev::built{built()}, probe_manifest(), ev::deleted{}, ok}).names ==
                  names{"build_manifest", "probe", "delete_run", "commit cleaned", "done"});
        }
    }
    SECTION("the remote proof is still asked now, and a remote mismatch still blocks deletion") {
        auto fsm = job_fsm::cleanup(fingerprinted_job(), f.context());
        auto log = play(fsm, {ev::fingerprinted{walked('f')}, probe_manifest('z'), ok, ev::performed{}});
        CHECK(log.names ==
              names{"fingerprint", "probe", "commit awaiting_verify", "schedule_verify", "done"});
    }
    SECTION("an answer that is not the fingerprint is a programming error") {
        auto fsm = job_fsm::cleanup(fingerprinted_job(), f.context());
        fsm.resume(ev::start{});
        CHECK_THROWS_AS(fsm.resume(ev::built{built()}), std::logic_error);
    }
}
