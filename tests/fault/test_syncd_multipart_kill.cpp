// Fault campaign: kill -9 of `syncd run` at random points while it ships runs in multi-part
// resumable uploads (issue 13, "Bad input and faults"; docs/reliability.md "Round 4").
// The receiver takes at most 128 KiB per request (--max-body) and syncd sends 128 KiB parts
// (part_bytes) in 64 KiB chunks, so each 1.5 MiB incompressible run is about 12 PATCHes (and a
// kill can fall between the two halves of one); a global bandwidth of
// 6 MiB/s stretches an upload over a quarter of a second or more.
// Each iteration adds a run, starts syncd and SIGKILLs it by PID at a point chosen at random
// (LABSYNC_FAULT_SEED): 8 in 10 inside an upload, when the receiver has received a random share
// of the run (seen in its store, `.uploads/ID/data`); 1 in 10 right after an upload completed;
// 1 in 10 after a random 0-300 ms (mostly before any upload). Each kill's landing is judged from
// the store (before any upload / mid-upload with its offset / after completion) and printed;
// more than half must land mid-upload. Then the disk is checked as the kill left it.
// LABSYNC_FAULT_ITERATIONS (default 6 here). Driven through `syncd run`, the store and jobs.db
// only (no outbox internals).
//
// Checked after every kill:
//  - nothing partial under a final name: every file of the store outside .tmp and .uploads is the
//    archive or sidecar of a run of this campaign, and every archive holds exactly that run's
//    bytes (`tar --zstd -x` + sha256 of each member) and matches its sidecar's sha256;
//  - local runs are deleted only after verification: a run whose local copy is gone or incomplete
//    has that byte-identical stored archive and a `verified` event in jobs.db;
//  - jobs.db passes PRAGMA integrity_check.
// Checked at the end (a daemon left alone drains everything, then SIGTERM, exit 0):
//  - every run stored exactly once (one archive + sidecar per run, nothing else visible),
//    byte-identical; one job per run, all `cleaned`, each after a `verified` event;
//  - the store's .uploads holds only completed uploads (data released) and abandoned incomplete
//    ones; a receiver restarted with --upload-expiry 1s once they are older removes them all.
#include "syncd_campaign.hpp"

#include <csignal>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace labsync;
using namespace labsync::fault;

TEST_CASE(
    "kill -9 of syncd during multi-part uploads: stored once, identical, nothing partial, deleted "
    "only after verification") {
    const unsigned iterations = env_unsigned("LABSYNC_FAULT_ITERATIONS", 6);
    std::mt19937 rng(env_unsigned("LABSYNC_FAULT_SEED", 4));
    test::temp_dir dir;
    const fs::path runs = dir / "runs" / "scope-1";
    fs::create_directories(runs);
    const fs::path state = dir / "state";
    const fs::path db = state / "jobs.db";
    auto rx = std::make_unique<receiver>(dir / "store", std::vector<std::string>{"--max-body", "128K"});
    const fs::path config = dir / "syncd.toml";
    test::write_file(config, daemon_config_text(dir.path(), runs, state, rx->port(), "bandwidth = \"6M\"\n",
                                                "part_bytes = \"128K\"\nchunk_bytes = \"64K\"\n"));
    const std::vector<std::string> syncd{LABSYNC_SYNCD,   "run",         "--config",
                                         config.string(), "--log-level", "warning"};

    std::map<std::string, run_files> written;
    std::set<std::string> proven;       // runs whose stored archive was shown byte-identical
    std::set<std::string> deleted_ok;   // runs deleted locally, shown stored and verified before
    std::set<std::string> cut_uploads;  // uploads left incomplete by a kill that had moved them
    int passed = 0, failed = 0;
    landing_tally landings;
    for (unsigned i = 0; i < iterations; ++i) {
        INFO("iteration " << i);
        const std::string id = "run-" + std::to_string(i);
        written[id] = make_recorded_run(runs, id, 7000 + i, run_bytes);
        const auto before = scan_uploads(rx->store());
        std::vector<std::string> seen_before_kill;
        // The kill point: mostly inside an upload, at a random share of the run received by the
        // receiver (its `.uploads/ID/data`); some right after an upload completed; some at a
        // random time (usually before any upload).
        const int aim = std::uniform_int_distribution<int>(0, 9)(rng);
        const auto bytes = std::uniform_int_distribution<std::uint64_t>(0, run_bytes - 1)(rng);
        const auto after_ms = std::uniform_int_distribution<int>(0, 300)(rng);
        {
            test::child_process daemon(syncd);
            if (aim == 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
            } else {
                const auto point = aim == 9 ? std::nullopt : std::optional<std::uint64_t>(bytes);
                const bool reached =
                    await_upload_point(rx->store(), before, point, std::chrono::seconds(30)).has_value();
                INFO("syncd stderr: " << daemon.stderr_text());
                CHECK(reached);  // each iteration adds a run, so an upload must happen
                if (aim == 9) std::this_thread::sleep_for(std::chrono::milliseconds(after_ms / 10));
            }
            seen_before_kill = visible_files(rx->store());
            REQUIRE(::kill(daemon.pid(), SIGKILL) == 0);
            daemon.wait(std::chrono::seconds(10));
        }
        const auto after = scan_uploads(rx->store());
        const auto landing = landing_of(before, after);
        landings.add(landing, run_bytes);
        std::printf("kill %u (aimed %s): %s", i,
                    aim == 0   ? "at a random time"
                    : aim == 9 ? "after a completion"
                               : ("at " + std::to_string(bytes) + " bytes received").c_str(),
                    landing.where == kill_landing::before_upload      ? "before any upload\n"
                    : landing.where == kill_landing::after_completion ? "after an upload completed\n"
                                                                      : "");
        if (landing.where == kill_landing::mid_upload)
            std::printf("mid-upload, acknowledged %llu, received %llu of ~%zu bytes\n",
                        static_cast<unsigned long long>(landing.offset),
                        static_cast<unsigned long long>(landing.data_bytes), run_bytes);
        for (const auto& [uid, u] : after) {
            const auto was = before.find(uid);
            if (!u.complete && (was == before.end() || was->second.offset != u.offset ||
                                was->second.data_bytes != u.data_bytes))
                cut_uploads.insert(uid);
        }
        bool ok = true;
        for (const auto& f : seen_before_kill)
            if (!f.starts_with("scope-1/run-")) {
                FAIL_CHECK("before the kill: unexpected file visible: " << f);
                ok = false;
            }
        for (const auto& p : store_problems(*rx, written, proven, dir.path())) {
            FAIL_CHECK("after the kill: " << p);
            ok = false;
        }
        for (const auto& [run, files] : written) {
            if (deleted_ok.count(run) || local_complete(runs / run, files)) continue;
            const bool stored = proven.count(run) > 0, verified = verified_in_db(db, run);
            INFO(run << " was deleted locally: stored identical " << stored << ", verified " << verified);
            CHECK(stored);
            CHECK(verified);
            ok = ok && stored && verified;
            if (stored && verified) deleted_ok.insert(run);  // neither can change any more
        }
        if (fs::exists(db)) {
            const auto integrity = sqlite(db, "PRAGMA integrity_check;");
            CHECK(integrity == "ok\n");
            ok = ok && integrity == "ok\n";
        }
        (ok ? passed : failed)++;
    }

    // Drain: a daemon left alone ships, verifies and cleans every run; then SIGTERM.
    const auto drain_start = std::chrono::steady_clock::now();
    bool drained = false;
    {
        test::child_process daemon(syncd);
        REQUIRE(daemon.wait_for_line("syncd ready", std::chrono::seconds(30)));
        const auto deadline = drain_start + std::chrono::seconds(60 + iterations);
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
    }
    const double drain_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_start).count();
    INFO("jobs: " << sqlite(db, "SELECT run_id, state, last_error FROM jobs;"));
    CHECK(drained);

    // Exactly once, byte-identical, one job per run, each cleaned after a verification.
    const auto expected_files = expected_store_files(written);
    CHECK(visible_files(rx->store()) == expected_files);
    proven.clear();  // every archive and sidecar once more, as they are now
    for (const auto& p : store_problems(*rx, written, proven, dir.path())) FAIL_CHECK("at the end: " << p);
    CHECK(proven.size() == written.size());
    CHECK(
        sqlite(db,
               "SELECT count(*) FROM (SELECT 1 FROM jobs GROUP BY equipment, run_id HAVING count(*) > 1);") ==
        "0\n");
    CHECK(sqlite(db,
                 "SELECT count(*) FROM jobs j WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.job_id = j.id "
                 "AND e.to_state = 'verified');") == "0\n");
    CHECK(sqlite(db, "PRAGMA integrity_check;") == "ok\n");

    // .uploads: completed uploads hold no data; the rest are abandoned, and expire.
    const auto uploads = scan_uploads(rx->store());
    std::size_t completed = 0, abandoned = 0, abandoned_with_data = 0, resumed = 0;
    std::int64_t newest = 0;
    for (const auto& [uid, u] : uploads) {
        INFO("upload " << uid << " of " << u.run);
        if (u.complete) {
            ++completed;
            CHECK_FALSE(u.has_data);
        } else {
            // syncd records an upload's location before its first part, so it resumes every
            // upload it sent bytes to: only one cut between its creation and that record is
            // left behind (to expire), and it holds nothing.
            ++abandoned;
            CHECK(u.data_bytes == 0);
            abandoned_with_data += u.data_bytes > 0;
        }
        newest = std::max(newest, u.updated);
    }
    for (const auto& uid : cut_uploads) resumed += uploads.count(uid) && uploads.at(uid).complete;
    REQUIRE(rx->process().stop(SIGTERM, std::chrono::seconds(20)));
    // Expiry counts whole seconds from `updated`: wait until every upload is older than 1 s.
    while (std::time(nullptr) < newest + 2) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rx = std::make_unique<receiver>(dir / "store", std::vector<std::string>{"--upload-expiry", "1s"});
    const auto left = scan_uploads(rx->store());
    CHECK(left.empty());
    CHECK(visible_files(rx->store()) == expected_files);

    // The campaign is about kills inside uploads: most must land there.
    const bool mostly_mid = landings.mid * 2 > iterations;
    CHECK(mostly_mid);
    const bool all_ok = failed == 0 && drained && proven.size() == written.size() && left.empty() &&
                        mostly_mid && abandoned_with_data == 0;
    std::printf(
        "syncd multi-part kill -9 campaign: %d passed, %d failed (%u kills: %s; %zu runs of %zu KiB in 128 "
        "KiB parts; checked after each kill: nothing partial visible, deleted runs stored identical and "
        "verified, jobs.db ok; at the end: drained=%s in %.1f s, %zu/%zu runs stored exactly once and "
        "identical, .uploads: %zu completed (data released), %zu abandoned (%zu holding data), %zu of %zu "
        "cut "
        "uploads resumed to completion, all expired with --upload-expiry 1s: %s)\n",
        passed, failed, iterations, landings.text().c_str(), written.size(), run_bytes / 1024,
        drained ? "yes" : "NO", drain_s, proven.size(), written.size(), completed, abandoned,
        abandoned_with_data, resumed, cut_uploads.size(), left.empty() ? "yes" : "NO");
    CHECK(all_ok);
}
