// job_fsm by action logs: given this sequence of events, these actions in this order. Every
// transition of SPEC §5 the engine writes, every error kind of §7, and the push-evidence rule.
// (Cleanup, the remote comparison and the pick policy: test_job_fsm_cleanup.cpp.)
#include "job_fsm_script.hpp"

#include "labsync/verifier/errc.hpp"

using namespace labsync::test::fsm;
namespace queue = labsync::queue;
namespace transports = labsync::transports;
namespace verifier = labsync::verifier;

TEST_CASE("job_fsm: ship by a manifest transport, probe, verified, release", "[fsm]") {
    fixture f;
    auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
    auto log = play(fsm, {ok, ev::built{built()}, push_ok(), ok, probe_manifest(), ok, ev::released{}});
    CHECK(log.names == names{"commit running", "build_manifest", "push", "commit awaiting_verify", "probe",
                             "commit verified", "release", "done"});
    CHECK(log.actions[0].details.message == "shipping via fake (attempt 1)");
    const auto& shipped = log.actions[3].details;
    CHECK(shipped.attempts == queue::attempts_update::increment);
    CHECK(shipped.manifest_digest == hex(files()));
    CHECK(shipped.bytes == 3);
    CHECK_FALSE(shipped.archive_sha256);
    CHECK(shipped.message == "shipped 1 files, 3 bytes (status 201)");
    CHECK(log.actions[5].details.clear_error);
    CHECK(log.actions[5].details.message == "verified: remote manifest matches (1 files)");
    CHECK(fsm.job().attempts == 1);
}

TEST_CASE("job_fsm: retention 0 asks for a cleanup pass after verified", "[fsm]") {
    fixture f;
    auto fsm = job_fsm::ship(job_in(job_state::queued), f.context(true, std::chrono::seconds(0)));
    auto log = play(
        fsm, {ok, ev::built{built()}, push_ok(), ok, probe_manifest(), ok, ev::released{}, ev::performed{}});
    CHECK(log.names == names{"commit running", "build_manifest", "push", "commit awaiting_verify", "probe",
                             "commit verified", "release", "request_cleanup", "done"});
}

TEST_CASE("job_fsm: push evidence replaces the probe only right after the push", "[fsm][evidence]") {
    fixture f;
    SECTION("http_put: the receiver's sha256 of what it fsynced proves the archive") {
        auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
        auto log =
            play(fsm, {ok, ev::built{built()}, push_ok(sha_a, evidence_sha(sha_a)), ok, ok, ev::released{}});
        CHECK(log.names == names{"commit running", "build_manifest", "push", "commit awaiting_verify",
                                 "commit verified", "release", "done"});
        CHECK(log.actions[3].details.archive_sha256 == sha_a);
        CHECK(log.actions[4].details.message == "verified: remote archive sha256 " + sha_a);
    }
    SECTION("evidence naming other bytes is a hash_mismatch, never verified") {
        auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
        auto log = play(fsm, {ok, ev::built{built()}, push_ok(sha_a, evidence_sha(sha_b)), ok, ok});
        CHECK(log.names == names{"commit running", "build_manifest", "push", "commit awaiting_verify",
                                 "commit queued", "done"});
        CHECK(log.actions[4].details.error->kind == "hash_mismatch");
    }
    SECTION("rsync_ssh: the manifest computed after the rename") {
        transports::remote_evidence e;
        e.present = true;
        e.remote_manifest = files();
        auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
        auto log = play(fsm, {ok, ev::built{built()}, push_ok(std::nullopt, e), ok, ok, ev::released{}});
        CHECK(log.names == names{"commit running", "build_manifest", "push", "commit awaiting_verify",
                                 "commit verified", "release", "done"});
    }
    SECTION("no evidence: the remote is probed") {
        auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
        auto log =
            play(fsm, {ok, ev::built{built()}, push_ok(sha_a), ok, probe_sha(sha_a), ok, ev::released{}});
        CHECK(log.names == names{"commit running", "build_manifest", "push", "commit awaiting_verify",
                                 "probe", "commit verified", "release", "done"});
    }
    SECTION("verify (replay, force_verify, cleanup's re-verification) always probes") {
        auto fsm = job_fsm::verify(shipped_job(job_state::awaiting_verify, sha_a), f.context());
        auto log = play(fsm, {probe_sha(sha_a), ok, ev::released{}});
        CHECK(log.names == names{"probe", "commit verified", "release", "done"});
    }
    SECTION("cleanup always probes") {
        auto fsm = job_fsm::cleanup(shipped_job(job_state::cleanup_eligible, sha_a), f.context());
        auto log = play(fsm, {ev::built{built()}, probe_sha(sha_a), ev::deleted{}, ok});
        CHECK(log.names == names{"build_manifest", "probe", "delete_run", "commit cleaned", "done"});
    }
}

TEST_CASE("job_fsm: refused or interrupted commits end the pass", "[fsm]") {
    fixture f;
    auto a = job_fsm::ship(job_in(job_state::queued), f.context());
    CHECK(play(a, {refused}).names == names{"commit running", "done"});
    auto b = job_fsm::ship(job_in(job_state::queued), f.context());
    CHECK(play(b, {ok, ev::built{built()}, push_ok(), refused}).names ==
          names{"commit running", "build_manifest", "push", "commit awaiting_verify", "done"});
    auto c = job_fsm::verify(shipped_job(job_state::awaiting_verify, sha_a), f.context());
    CHECK(play(c, {probe_sha(sha_a), refused, ev::performed{}}).names ==
          names{"probe", "commit verified", "done", "done"});  // and stays done
}

TEST_CASE("job_fsm: an event that does not answer the action is a programming error", "[fsm]") {
    fixture f;
    auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
    fsm.resume(ev::start{});
    CHECK_THROWS_AS(fsm.resume(probe_absent()), std::logic_error);
}

TEST_CASE("job_fsm: every error kind of a push goes through the retry table", "[fsm][retry]") {
    fixture f;
    struct row {
        error_kind kind;
        names tail;
        std::optional<std::string> previous;
    };
    const std::vector<row> rows{
        {error_kind::network, {"commit queued", "done"}, {}},
        {error_kind::unknown, {"commit queued", "done"}, {}},
        {error_kind::auth, {"commit failed", "done"}, {}},
        {error_kind::hash_mismatch, {"commit queued", "done"}, {}},
        {error_kind::hash_mismatch, {"commit failed", "done"}, "hash_mismatch"},
        {error_kind::binary_missing, {"commit queued", "done"}, {}},
        {error_kind::binary_missing, {"commit failed", "done"}, "binary_missing"},
        {error_kind::local_file_vanished, {"commit failed", "done"}, {}},
        {error_kind::conflict, {"commit failed", "done"}, {}},
        {error_kind::misconfigured, {"commit failed", "done"}, {}},
        {error_kind::rejected, {"commit failed", "release", "quarantine", "done"}, {}},
    };
    for (const auto& r : rows) {
        INFO(transports::to_string(r.kind) << " after " << r.previous.value_or("nothing"));
        auto j = job_in(job_state::queued);
        j.last_error_kind = r.previous;
        auto fsm = job_fsm::ship(j, f.context());
        std::vector<job_event> events{ok, ev::built{built()}, push_failed(r.kind, 412), ok};
        if (r.kind == error_kind::rejected) events.insert(events.end(), {ev::released{}, ev::quarantined{}});
        auto log = play(fsm, std::move(events));
        names expected{"commit running", "build_manifest", "push"};
        expected.insert(expected.end(), r.tail.begin(), r.tail.end());
        CHECK(log.names == expected);
        const auto& failure = log.actions[3].details;
        CHECK(failure.attempts == queue::attempts_update::increment);
        CHECK(failure.error->kind == transports::to_string(r.kind));
        const bool backoff = r.kind == error_kind::network || r.kind == error_kind::unknown;
        CHECK(failure.next_attempt_at.has_value() == backoff);
        if (backoff) CHECK(*failure.next_attempt_at > t0);
        CHECK(log.actions[3].level == (backoff ? log_level::warning : log_level::error));
        if (r.kind == error_kind::rejected) {
            CHECK_THAT(failure.message, Catch::EndsWith("; run moves to /q/seq-1/run-001"));
            const auto& reason = *log.actions[5].reason;
            CHECK(reason.code == "rejected");
            CHECK(reason.status == 412);
            CHECK(reason.attempts == 1);
            CHECK(log.actions[6].level == log_level::warning);  // "quarantined to ..."
        }
    }
}

TEST_CASE("job_fsm: network gives up at max_attempts", "[fsm][retry]") {
    fixture f;
    auto j = job_in(job_state::queued);
    j.attempts = backoff_config{}.max_attempts - 1;
    auto fsm = job_fsm::ship(j, f.context());
    auto log = play(fsm, {ok, ev::built{built()}, push_failed(error_kind::network), ok});
    CHECK(log.names.at(3) == "commit failed");
}

TEST_CASE("job_fsm: a quarantine that cannot move the run is logged as an error", "[fsm][retry]") {
    fixture f;
    auto fsm = job_fsm::ship(job_in(job_state::queued), f.context());
    auto log = play(fsm, {ok, ev::built{built()}, push_failed(error_kind::rejected), ok, ev::released{"busy"},
                          ev::quarantined{std::make_error_code(std::errc::permission_denied), {}, false}});
    CHECK(log.names.back() == "done");
    CHECK(log.actions.back().level == log_level::error);
    CHECK_THAT(log.actions.back().log, Catch::Contains("quarantine failed"));
    CHECK(log.actions[5].level == log_level::warning);  // the release error is said, not fatal
}

TEST_CASE("job_fsm: build errors are error kinds", "[fsm][retry]") {
    fixture f;
    CHECK(transports::kind_of_local_error(verifier::errc::local_file_vanished) ==
          error_kind::local_file_vanished);
    CHECK(transports::kind_of_local_error(verifier::errc::local_file_changed) ==
          error_kind::local_file_vanished);
    CHECK(transports::kind_of_local_error(verifier::errc::not_a_directory) ==
          error_kind::local_file_vanished);
    CHECK(transports::kind_of_local_error(std::make_error_code(std::errc::no_such_file_or_directory)) ==
          error_kind::local_file_vanished);
    CHECK(transports::kind_of_local_error(verifier::errc::io_error) == error_kind::unknown);

    auto gone = job_fsm::ship(job_in(job_state::queued), f.context());
    auto log = play(gone, {ok, ev::built{build_error(verifier::errc::local_file_vanished)}, ok});
    CHECK(log.names == names{"commit running", "build_manifest", "commit failed", "done"});
    CHECK_THAT(log.actions[2].details.message, Catch::Contains("cannot build the manifest of /runs/run-001"));

    auto eio = job_fsm::ship(job_in(job_state::queued), f.context());
    CHECK(play(eio, {ok, ev::built{build_error(verifier::errc::io_error)}, ok}).names ==
          names{"commit running", "build_manifest", "commit queued", "done"});
}

TEST_CASE("job_fsm: verification after a restart re-hashes manifest runs first", "[fsm]") {
    fixture f;
    auto same = job_fsm::verify(shipped_job(job_state::awaiting_verify), f.context());
    CHECK(play(same, {ev::built{built()}, probe_manifest(), ok, ev::released{}}).names ==
          names{"build_manifest", "probe", "commit verified", "release", "done"});

    auto changed = job_fsm::verify(shipped_job(job_state::awaiting_verify), f.context());
    auto log = play(changed, {ev::built{built('x')}, ok});
    CHECK(log.names == names{"build_manifest", "commit failed", "done"});
    CHECK(log.actions[1].details.error->kind == "local_file_vanished");
    CHECK(log.actions[1].details.attempts == queue::attempts_update::keep);

    auto unreadable = job_fsm::verify(shipped_job(job_state::awaiting_verify), f.context());
    CHECK(play(unreadable, {ev::built{build_error(verifier::errc::io_error)}, ok}).names ==
          names{"build_manifest", "commit queued", "done"});
}

TEST_CASE("job_fsm: a verification that fails goes back to queued (re-ship) or failed", "[fsm]") {
    fixture f;
    SECTION("the remote has no copy: hash_mismatch, one immediate re-ship") {
        auto fsm = job_fsm::verify(shipped_job(job_state::awaiting_verify, sha_a), f.context());
        auto log = play(fsm, {probe_absent(), ok});
        CHECK(log.names == names{"probe", "commit queued", "done"});
        CHECK_THAT(log.actions[1].details.message, Catch::Contains("the remote has no copy of this run"));
        CHECK_FALSE(log.actions[1].details.next_attempt_at);
    }
    SECTION("a second mismatch in a row fails the job") {
        auto j = shipped_job(job_state::awaiting_verify, sha_a);
        j.last_error_kind = "hash_mismatch";
        auto fsm = job_fsm::verify(j, f.context());
        CHECK(play(fsm, {probe_sha(sha_b), ok}).names == names{"probe", "commit failed", "done"});
    }
    SECTION("the remote manifest differs") {
        auto fsm = job_fsm::verify(shipped_job(job_state::awaiting_verify), f.context());
        auto log = play(fsm, {ev::built{built()}, probe_manifest('z'), ok});
        CHECK(log.names == names{"build_manifest", "probe", "commit queued", "done"});
        CHECK_THAT(log.actions[2].details.message, Catch::Contains("remote differs: 1 hash differs"));
    }
    SECTION("the probe could not ask: backoff without counting an attempt") {
        auto fsm = job_fsm::verify(shipped_job(job_state::awaiting_verify, sha_a), f.context());
        auto log = play(fsm, {probe_failed(error_kind::network), ok});
        CHECK(log.names == names{"probe", "commit queued", "done"});
        CHECK(log.actions[1].details.attempts == queue::attempts_update::keep);
        CHECK(log.actions[1].details.next_attempt_at);
    }
}

TEST_CASE("job_fsm: a transport whose push hashes the run ships without a manifest pass", "[fsm][stream]") {
    fixture f;
    auto context = [&] {
        auto c = f.context();
        c.push_hashes_run = true;
        return c;
    };
    SECTION("the push brings the run's manifest (http_put's streamed pack)") {
        auto pushed = push_ok(sha_a, evidence_sha(sha_a));
        pushed.result.built = built();
        auto fsm = job_fsm::ship(job_in(job_state::queued), context());
        auto log = play(fsm, {ok, std::move(pushed), ok, ok, ev::released{}});
        CHECK(log.names == names{"commit running", "push", "commit awaiting_verify", "commit verified",
                                 "release", "done"});
        const auto& shipped = log.actions[2].details;
        CHECK(shipped.manifest_digest == hex(files()));
        CHECK(shipped.tree_digest == verifier::to_hex(verifier::tree_digest(built())));
        CHECK(shipped.bytes == 3);
        CHECK(shipped.archive_sha256 == sha_a);
        CHECK(shipped.message == "shipped 1 files, 3 bytes (status 201)");
    }
    SECTION("a push that did not read the run: the manifest is built after it") {
        auto fsm = job_fsm::ship(job_in(job_state::queued), context());
        auto log =
            play(fsm, {ok, push_ok(sha_a, evidence_sha(sha_a)), ev::built{built()}, ok, ok, ev::released{}});
        CHECK(log.names == names{"commit running", "push", "build_manifest", "commit awaiting_verify",
                                 "commit verified", "release", "done"});
        CHECK(log.actions[3].details.manifest_digest == hex(files()));
        CHECK(log.actions[3].details.archive_sha256 == sha_a);
    }
    SECTION("a failed push goes through the retry policy, no manifest pass") {
        auto fsm = job_fsm::ship(job_in(job_state::queued), context());
        auto log = play(fsm, {ok, push_failed(error_kind::network), ok});
        CHECK(log.names == names{"commit running", "push", "commit queued", "done"});
    }
}
