// Cleanup interlocks end to end in the engine (real files, real store, fake remote): a run is
// deleted only when verified, retention passed (or disk under the watermark), the remote
// re-confirmed and the local files unchanged.
#include "cleanup_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

using cleanup_fixture = test::cleanup_fixture;
using test::has_event;

TEST_CASE("cleanup: retention 0 deletes the run once verified and re-confirmed", "[engine][cleanup]") {
    cleanup_fixture f;
    auto e = f.start(0s);
    const auto run = f.make_run("r1");
    fs::create_directories(f.dir / "outside");
    test::write_file(f.dir / "outside/keep", "k");
    fs::create_symlink(f.dir / "outside", run / "link");  // inside link to outside: soft? no - escapes
    auto res = (*e)->enqueue(run);
    REQUIRE(res.state == job_state::blocked_by_validation);
    REQUIRE_FALSE((*e)->override_block(run, "op", "link is fine"));
    auto j = e->observer.wait_for(res.job_id, job_state::cleaned);
    REQUIRE(j);
    CHECK_FALSE(fs::exists(run));
    CHECK(fs::exists(f.dir / "outside/keep"));  // the symlink was removed, not followed
    CHECK(has_event(**e, res.job_id, "remote re-confirmed"));
    // A cleaned run frees the slot: status still reports the cleaned job.
    CHECK((*e)->status(run)->state == job_state::cleaned);
}

TEST_CASE("cleanup: retention not passed keeps the run until the clock passes it", "[engine][cleanup]") {
    cleanup_fixture f;
    auto e = f.start(std::chrono::hours(24));
    const auto run = f.make_run("r2");
    auto res = (*e)->enqueue(run);
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    (*e)->request_cleanup();
    CHECK_FALSE(e->observer.wait_for(res.job_id, job_state::cleanup_eligible, 300ms));
    CHECK(fs::exists(run));
    f.clock->advance(std::chrono::hours(25));
    (*e)->request_cleanup();
    REQUIRE(e->observer.wait_for(res.job_id, job_state::cleaned));
    CHECK_FALSE(fs::exists(run));
}

TEST_CASE("cleanup: remote altered - the run is not deleted", "[engine][cleanup]") {
    cleanup_fixture f;
    auto e = f.start(std::chrono::hours(1));
    const auto run = f.make_run("r3");
    auto res = (*e)->enqueue(run);
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    f.remote->tamper = true;  // the remote copy changes after verification
    f.clock->advance(std::chrono::hours(2));
    (*e)->request_cleanup();
    // Re-confirmation fails -> awaiting_verify -> re-ship (immediate) -> mismatch again -> failed.
    auto j = e->observer.wait_for(res.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(fs::exists(run / "data/a.bin"));
    CHECK(has_event(**e, res.job_id, "remote copy no longer matches"));
    CHECK(e->observer.entries(res.job_id, job_state::cleaned) == 0);
}

TEST_CASE("cleanup: local files changed after verification - kept and failed", "[engine][cleanup]") {
    cleanup_fixture f;
    auto e = f.start(std::chrono::hours(1));
    const auto run = f.make_run("r4");
    auto res = (*e)->enqueue(run);
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    test::write_file(run / "data/a.bin", "changed by someone");
    f.clock->advance(std::chrono::hours(2));
    (*e)->request_cleanup();
    auto j = e->observer.wait_for(res.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(j->last_error_kind == "local_changed");
    CHECK(test::read_file(run / "data/a.bin") == "changed by someone");
}

TEST_CASE("cleanup: a push's evidence verifies without a probe, cleanup still probes the remote",
          "[engine][cleanup][evidence]") {
    cleanup_fixture f;
    f.remote->push_evidence = true;  // pushes return the stored manifest as their proof
    auto e = f.start(std::chrono::hours(1));
    const auto run = f.make_run("r6");
    auto res = (*e)->enqueue(run);
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    {
        std::lock_guard lock(f.remote->mutex);
        CHECK(f.remote->pushes == 1);
        CHECK(f.remote->probes == 0);  // the push's own proof stood in for the probe
    }
    f.remote->tamper = true;  // the remote copy changes after verification: only a probe sees it
    f.clock->advance(std::chrono::hours(2));
    (*e)->request_cleanup();
    // Cleanup probes -> mismatch -> awaiting_verify -> the verification probes -> re-ship, whose
    // own proof verifies again; the run is never deleted on the push's word.
    REQUIRE(e->observer.wait_entries(res.job_id, job_state::verified, 2));
    CHECK(has_event(**e, res.job_id, "remote copy no longer matches"));
    CHECK(e->observer.entries(res.job_id, job_state::cleaned) == 0);
    CHECK(fs::exists(run / "data/a.bin"));
    std::lock_guard lock(f.remote->mutex);
    CHECK(f.remote->probes == 2);
    CHECK(f.remote->pushes == 2);
}

TEST_CASE("cleanup: the remote cannot be asked - back to verified, kept", "[engine][cleanup]") {
    cleanup_fixture f;
    auto e = f.start(std::chrono::hours(1));
    const auto run = f.make_run("r5");
    auto res = (*e)->enqueue(run);
    REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
    f.remote->probe_script = {transports::transport_result::failure(transports::error_kind::network, "down")};
    f.clock->advance(std::chrono::hours(2));
    (*e)->request_cleanup();
    REQUIRE(e->observer.wait_for(res.job_id, job_state::cleanup_eligible));
    for (int i = 0; i < 300 && e->observer.entries(res.job_id, job_state::verified) < 2; ++i)
        std::this_thread::sleep_for(10ms);
    CHECK(e->observer.entries(res.job_id, job_state::verified) == 2);
    CHECK(fs::exists(run));
    CHECK(has_event(**e, res.job_id, "could not be re-confirmed"));
}

TEST_CASE("cleanup: under the watermark the oldest verified runs go first, until space is back",
          "[engine][cleanup]") {
    cleanup_fixture f;
    // The fake disk: 512 MiB free while all three runs are there, and 256 MiB more per deleted
    // run, so two deletions bring it back to the 1 GiB watermark.
    const std::vector<fs::path> runs{f.dir / "runs/w1", f.dir / "runs/w2", f.dir / "runs/w3"};
    std::atomic<bool> measuring{false};
    std::mutex asked_mutex;
    std::condition_variable asked;
    bool saw_space_back = false;
    f.free_space = [&]() -> std::uint64_t {
        if (!measuring) return 1ull << 40;
        std::uint64_t free = 512ull << 20;
        for (const auto& r : runs)
            if (!fs::exists(r)) free += 256ull << 20;
        if (free >= (1ull << 30)) {
            std::lock_guard lock(asked_mutex);
            saw_space_back = true;
            asked.notify_all();
        }
        return free;
    };
    auto e = f.start(std::chrono::hours(24 * 30));  // retention alone would keep them all
    std::vector<std::int64_t> ids;
    for (const auto& run : runs) {
        auto res = (*e)->enqueue(f.make_run(run.filename().string()));
        REQUIRE(e->observer.wait_for(res.job_id, job_state::verified));
        ids.push_back(res.job_id);
        f.clock->advance(1min);
    }
    measuring = true;
    (*e)->request_cleanup();
    REQUIRE(e->observer.wait_for(ids[1], job_state::cleaned));
    {
        // The pass asks for free space again after the second deletion and stops there.
        std::unique_lock lock(asked_mutex);
        REQUIRE(asked.wait_for(lock, 20s, [&] { return saw_space_back; }));
    }
    CHECK(e->observer.entered(job_state::cleaned) == std::vector<std::int64_t>{ids[0], ids[1]});
    CHECK_FALSE(fs::exists(runs[0]));
    CHECK_FALSE(fs::exists(runs[1]));
    CHECK(fs::exists(runs[2]));
    CHECK(e->observer.entries(ids[2], job_state::cleanup_eligible) == 0);
    CHECK((*e)->status(runs[2])->state == job_state::verified);
}

TEST_CASE("cleanup: orphan outbox archives are swept and old quarantine pruned on start",
          "[engine][cleanup]") {
    cleanup_fixture f;
    test::write_file(f.dir / "outbox/seq-2/ghost.tar.zst", "x");
    test::write_file(f.dir / "quarantine/seq-2/old-run/a.bin", "old");
    test::write_file(f.dir / "quarantine/seq-2/new-run/a.bin", "new");
    // 10 days before the engine's clock: past a 7-day keep, not past the default.
    const auto old_time = std::chrono::system_clock::to_time_t(f.clock->now() - std::chrono::hours(24 * 10));
    const timeval times[2] = {{old_time, 0}, {old_time, 0}};
    REQUIRE(::utimes((f.dir / "quarantine/seq-2/old-run").c_str(), times) == 0);
    auto c = f.config(std::chrono::hours(1));
    c.quarantine_keep_days = 7;  // explicit: pruning is opt-in
    auto e = f.start(c);
    REQUIRE(f.wait_log("pruned quarantine entry"));
    CHECK(f.wait_log("swept orphan outbox archive"));
    CHECK_FALSE(fs::exists(f.dir / "outbox/seq-2/ghost.tar.zst"));
    CHECK_FALSE(fs::exists(f.dir / "quarantine/seq-2/old-run"));
    CHECK(test::read_file(f.dir / "quarantine/seq-2/new-run/a.bin") == "new");
}

TEST_CASE("cleanup: a quarantined run is kept forever by default, pruned only when opted in",
          "[engine][cleanup][quarantine]") {
    cleanup_fixture f;
    // A run quarantined ten years ago: the only copy of its data.
    const auto entry = f.dir / "quarantine/seq-2/run-old";
    test::write_file(entry / "data/a.bin", "only copy");
    const auto old = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() -
                                                          std::chrono::hours(24 * 3650));
    const timespec times[2] = {{old, 0}, {old, 0}};
    REQUIRE(::utimensat(AT_FDCWD, entry.c_str(), times, 0) == 0);
    const auto one_pass = [&](std::optional<int> keep_days) {
        // The outbox sweep and the quarantine pruning are one task: the ghost's removal means
        // the pruning has run as well.
        test::write_file(f.dir / "outbox/seq-2/ghost.tar.zst", "x");
        auto cfg = f.config(std::chrono::hours(1));
        if (keep_days) cfg.quarantine_keep_days = *keep_days;
        engine_runner r(cfg, f.deps());
        REQUIRE_FALSE(r.open());
        r.start();
        for (int i = 0; i < 500 && fs::exists(f.dir / "outbox/seq-2/ghost.tar.zst"); ++i)
            std::this_thread::sleep_for(10ms);
        REQUIRE_FALSE(fs::exists(f.dir / "outbox/seq-2/ghost.tar.zst"));
        r.stop();
    };
    CHECK(engine::engine_config{}.quarantine_keep_days == 0);
    one_pass(std::nullopt);  // the default
    CHECK(test::read_file(entry / "data/a.bin") == "only copy");
    one_pass(0);
    CHECK(fs::exists(entry / "data/a.bin"));
    one_pass(30);  // the operator's explicit opt-in
    CHECK_FALSE(fs::exists(entry));
}

namespace {

// Runs r to `verified`, lets `change` alter the run, then asks for cleanup: the run must be kept,
// the job failed as a local change, and the refusal logged at warning.
void check_local_change_refused(const std::string& run_id,
                                const std::function<void(const fs::path&)>& change) {
    cleanup_fixture f;
    auto logs = std::make_shared<std::vector<std::string>>();
    auto mutex = std::make_shared<std::mutex>();
    auto deps = f.deps();
    deps.log = [logs, mutex](common::log_level level, std::string_view text) {
        std::lock_guard lock(*mutex);
        logs->push_back(std::string(common::to_string(level)) + ": " + std::string(text));
    };
    engine_runner e(f.config(std::chrono::hours(1)), std::move(deps));
    REQUIRE_FALSE(e.open());
    e.start();
    const auto run = f.make_run(run_id);
    auto res = e->enqueue(run);
    REQUIRE(e.observer.wait_for(res.job_id, job_state::verified));
    change(run);
    f.clock->advance(std::chrono::hours(2));
    e->request_cleanup();
    auto j = e.observer.wait_for(res.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(j->last_error_kind == "local_changed");
    CHECK_THAT(j->last_error.value_or(""), Catch::Contains("after verification"));
    CHECK(test::read_file(run / "data/a.bin") == "alpha-" + run_id);
    CHECK(e.observer.entries(res.job_id, job_state::cleaned) == 0);
    std::lock_guard lock(*mutex);
    CHECK(std::any_of(logs->begin(), logs->end(), [&](const std::string& l) {
        return l.rfind("warning: seq-2/" + run_id + ": cleanup refused", 0) == 0;
    }));
}

}  // namespace

TEST_CASE("cleanup: an empty directory added after verification is a local change - kept, warned",
          "[engine][cleanup]") {
    check_local_change_refused("r-dir",
                               [](const fs::path& run) { fs::create_directories(run / "late/empty"); });
}

TEST_CASE("cleanup: a symlink added after verification is a local change - kept, warned",
          "[engine][cleanup]") {
    check_local_change_refused("r-link",
                               [](const fs::path& run) { fs::create_symlink("data/a.bin", run / "link"); });
}
