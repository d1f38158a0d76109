// Fault campaign: kill -9 of syncd-receiver at random points during the multi-part streamed
// uploads of `syncd run` (issue 13, "Bad input and faults"; docs/reliability.md). One daemon for
// the whole campaign, one http_put equipment: 128 KiB parts in 64 KiB chunks against a receiver
// taking at most 128 KiB per request, global bandwidth 6 MiB/s, so each 1.5 MiB incompressible
// run is about 12 PATCHes over a quarter of a second. Each iteration adds a run and SIGKILLs the
// receiver by PID at a point chosen at random (LABSYNC_FAULT_SEED): 9 in 10 when the new upload
// has received a random share of the run (seen in the store, `.uploads/ID/data`), 1 in 10 right
// after it completed. The receiver is restarted on the same port and store; syncd asks the offset
// (HEAD) and resumes from its spool. LABSYNC_FAULT_ITERATIONS (default 4 here).
//
// Checked in every iteration:
//  - before and right after the kill, nothing partial under a final name: every file of the store
//    outside .tmp and .uploads is the archive or sidecar of a run of this campaign, and every
//    archive holds exactly that run's bytes (`tar --zstd -x` + sha256 of each member) and matches
//    its sidecar's sha256;
//  - the run is verified by syncd after the restart, stored byte-identical, and the store holds
//    exactly one archive + sidecar per run so far;
//  - a kill that cut an upload after it had received bytes is resumed: that same upload completes
//    (the run is not sent again from zero under a new upload).
// Checked at the end (the daemon drains, SIGTERM, exit 0): every run stored exactly once and
// identical, one job per run, each `cleaned` after a `verified` event, jobs.db integrity.
#include "syncd_campaign.hpp"

#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace labsync;
using namespace labsync::fault;

namespace {

// Waits until `run` has a `verified` event in jobs.db (syncd checked the stored copy).
bool await_verified(const fs::path& db, const std::string& run, std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (fs::exists(db) && verified_in_db(db, run)) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace

TEST_CASE(
    "kill -9 of syncd-receiver during syncd's multi-part uploads: resumed, stored once, identical, "
    "nothing partial") {
    const unsigned iterations = env_unsigned("LABSYNC_FAULT_ITERATIONS", 4);
    std::mt19937 rng(env_unsigned("LABSYNC_FAULT_SEED", 9));
    test::temp_dir dir;
    const fs::path runs = dir / "runs" / "scope-1";
    fs::create_directories(runs);
    const fs::path state = dir / "state";
    const fs::path db = state / "jobs.db";
    receiver rx(dir / "store", {"--max-body", "128K"});
    const fs::path config = dir / "syncd.toml";
    test::write_file(config, daemon_config_text(dir.path(), runs, state, rx.port(), "bandwidth = \"6M\"\n",
                                                "part_bytes = \"128K\"\nchunk_bytes = \"64K\"\n"));
    test::child_process daemon({LABSYNC_SYNCD, "run", "--config", config.string(), "--log-level", "warning"});
    REQUIRE(daemon.wait_for_line("syncd ready", std::chrono::seconds(30)));

    std::map<std::string, run_files> written;
    std::set<std::string> proven;  // runs whose stored archive was shown byte-identical
    landing_tally landings;
    int passed = 0, failed = 0;
    unsigned resumed = 0, cut_with_data = 0;
    for (unsigned i = 0; i < iterations; ++i) {
        INFO("iteration " << i);
        const std::string id = "run-" + std::to_string(i);
        const auto before = scan_uploads(rx.store());
        const bool aim_after = std::uniform_int_distribution<int>(0, 9)(rng) == 9;
        const auto bytes = std::uniform_int_distribution<std::uint64_t>(0, run_bytes - 1)(rng);
        written[id] = make_recorded_run(runs, id, 9000 + i, run_bytes);
        const auto point = aim_after ? std::nullopt : std::optional<std::uint64_t>(bytes);
        const auto uid = await_upload_point(rx.store(), before, point, std::chrono::seconds(30));
        const auto seen_before_kill = visible_files(rx.store());
        REQUIRE(::kill(rx.process().pid(), SIGKILL) == 0);
        rx.process().wait(std::chrono::seconds(10));
        INFO("syncd stderr: " << daemon.stderr_text());
        CHECK(uid);  // each iteration adds a run, so its upload must begin
        bool ok = uid.has_value();

        const auto landing = landing_of(before, scan_uploads(rx.store()));
        landings.add(landing, run_bytes);
        const std::string aimed =
            aim_after ? "after the completion" : "at " + std::to_string(bytes) + " bytes received";
        if (landing.where == kill_landing::mid_upload)
            std::printf("kill %u (aimed %s): mid-upload, acknowledged %llu, received %llu\n", i,
                        aimed.c_str(), static_cast<unsigned long long>(landing.offset),
                        static_cast<unsigned long long>(landing.data_bytes));
        else
            std::printf("kill %u (aimed %s): %s\n", i, aimed.c_str(),
                        landing.where == kill_landing::before_upload ? "before any upload"
                                                                     : "after the upload completed");
        for (const auto& f : seen_before_kill)
            if (!f.starts_with("scope-1/run-")) {
                FAIL_CHECK("before the kill: unexpected file visible: " << f);
                ok = false;
            }
        for (const auto& p : store_problems(rx, written, proven, dir.path())) {
            FAIL_CHECK("after the kill: " << p);
            ok = false;
        }

        rx.restart_same_port();
        const bool verified = await_verified(db, id, std::chrono::seconds(60));
        INFO("jobs: " << sqlite(db, "SELECT run_id, state, last_error FROM jobs;"));
        CHECK(verified);
        for (const auto& p : store_problems(rx, written, proven, dir.path())) {
            FAIL_CHECK("after the resume: " << p);
            ok = false;
        }
        const bool stored = proven.count(id) > 0;
        // Runs cleaned locally stay stored: exactly one archive + sidecar per run so far.
        const bool once = visible_files(rx.store()) == expected_store_files(written);
        CHECK(stored);
        CHECK(once);
        if (uid && landing.where == kill_landing::mid_upload && landing.data_bytes > 0) {
            // syncd had sent bytes to this upload, so it knew it: the resume must continue it.
            ++cut_with_data;
            const auto now = scan_uploads(rx.store());
            const bool same = now.count(*uid) && now.at(*uid).complete;
            CHECK(same);
            resumed += same;
            ok = ok && same;
        }
        ok = ok && verified && stored && once;
        (ok ? passed : failed)++;
    }

    // Drain: every job cleaned, every local run gone; then SIGTERM.
    bool drained = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!drained && std::chrono::steady_clock::now() < deadline) {
        bool all_gone = true;
        for (const auto& [run, files] : written) all_gone = all_gone && !fs::exists(runs / run);
        drained = all_gone && sqlite(db, "SELECT count(*) FROM jobs WHERE state <> 'cleaned';") == "0\n";
        if (!drained) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto stopped = daemon.stop(SIGTERM, std::chrono::seconds(20));
    INFO("syncd stderr: " << daemon.stderr_text());
    REQUIRE(stopped);
    CHECK(stopped->exit_code == 0);
    INFO("jobs: " << sqlite(db, "SELECT run_id, state, last_error FROM jobs;"));
    CHECK(drained);

    // Exactly once, byte-identical (every archive once more, as it is now), one job per run, each
    // cleaned after a verification.
    CHECK(visible_files(rx.store()) == expected_store_files(written));
    proven.clear();
    for (const auto& p : store_problems(rx, written, proven, dir.path())) FAIL_CHECK("at the end: " << p);
    CHECK(proven.size() == written.size());
    CHECK(
        sqlite(db,
               "SELECT count(*) FROM (SELECT 1 FROM jobs GROUP BY equipment, run_id HAVING count(*) > 1);") ==
        "0\n");
    CHECK(sqlite(db,
                 "SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.job_id = j.id "
                 "AND e.to_state = 'verified');") == "0\n");
    CHECK(sqlite(db, "PRAGMA integrity_check;") == "ok\n");
    std::size_t abandoned = 0;
    for (const auto& [uid, u] : scan_uploads(rx.store())) abandoned += !u.complete;

    // The campaign is about kills inside uploads: most must land there.
    const bool mostly_mid = landings.mid * 2 > iterations;
    CHECK(mostly_mid);
    const bool all_ok = failed == 0 && drained && proven.size() == written.size() && mostly_mid;
    std::printf(
        "receiver multi-part kill -9 campaign: %d passed, %d failed (%u kills: %s; %u of %u uploads cut "
        "after receiving bytes were resumed to completion; %zu runs of %zu KiB in 128 KiB parts through "
        "`syncd run`; checked: nothing partial visible before and after each kill, each run verified after "
        "the restart and stored once and identical; at the end: drained=%s, %zu/%zu runs stored exactly "
        "once and identical, one job per run, %zu abandoned uploads)\n",
        passed, failed, iterations, landings.text().c_str(), resumed, cut_with_data, written.size(),
        run_bytes / 1024, drained ? "yes" : "NO", proven.size(), written.size(), abandoned);
    CHECK(all_ok);
}
