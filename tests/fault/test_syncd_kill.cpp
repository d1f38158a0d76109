// Fault campaign: kill -9 of `syncd run` at random points while it ships, verifies and cleans up
// runs (http_put to a real syncd-receiver, retention 0 so cleanup races the kills too).
// LABSYNC_FAULT_ITERATIONS (default 20; scripts/fault-campaign.sh runs 1,000), LABSYNC_FAULT_SEED.
//
// Checked after every kill (the daemon is dead, so the disk is a snapshot of that instant):
//  - every run whose local copy is gone or incomplete has a stored archive on the receiver whose
//    bytes match its sidecar sha and whose members are the run's original bytes
//    (no local data was deleted before its verified remote copy existed);
//  - jobs.db passes PRAGMA integrity_check.
// Checked at the end (after a final clean run that drains everything):
//  - every run is stored exactly once (one archive + sidecar, nothing else in the store), its
//    content identical to what was written, one job per run, state `cleaned`, no local copy.
#include "syncd_campaign.hpp"

#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace labsync;
using namespace labsync::fault;

TEST_CASE("kill -9 of syncd while shipping: every run stored once, byte-identical, never deleted early") {
    const unsigned iterations = env_unsigned("LABSYNC_FAULT_ITERATIONS", 20);
    std::mt19937 rng(env_unsigned("LABSYNC_FAULT_SEED", 1));
    test::temp_dir dir;
    fs::path runs = dir / "runs" / "scope-1";
    fs::create_directories(runs);
    fs::path state = dir / "state";
    receiver rx(dir / "store");

    fs::path config = dir / "syncd.toml";
    test::write_file(config, daemon_config_text(dir.path(), runs, state, rx.port()));
    const std::vector<std::string> syncd{LABSYNC_SYNCD,   "run",         "--config",
                                         config.string(), "--log-level", "warning"};

    std::map<std::string, run_files> written;
    std::set<std::string> checked;  // runs whose stored copy was already proven (it never changes)
    unsigned next_run = 0;
    auto add_runs = [&](unsigned n) {
        for (unsigned k = 0; k < n; ++k, ++next_run) {
            std::string id = "run-" + std::to_string(next_run);
            written[id] = make_recorded_run(runs, id, 1000 + next_run);
        }
    };
    add_runs(4);

    int passed = 0, failed = 0;
    for (unsigned i = 0; i < iterations; ++i) {
        INFO("iteration " << i);
        add_runs(2);
        {
            test::child_process daemon(syncd);
            std::this_thread::sleep_for(
                std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 700)(rng)));
            REQUIRE(::kill(daemon.pid(), SIGKILL) == 0);
            daemon.wait(std::chrono::seconds(10));
            INFO("syncd stderr: " << daemon.stderr_text());
        }
        bool ok = true;
        for (const auto& [id, files] : written) {
            if (local_complete(runs / id, files)) continue;
            if (checked.count(id)) continue;
            std::string why;
            bool good = stored_matches(rx, id, files, dir.path(), why);
            INFO(id << " was deleted locally: " << why);
            CHECK(good);
            ok = ok && good;
            if (good) checked.insert(id);
        }
        if (fs::exists(state / "jobs.db")) {
            auto integrity = sqlite(state / "jobs.db", "PRAGMA integrity_check;");
            CHECK(integrity == "ok\n");
            ok = ok && integrity == "ok\n";
        }
        (ok ? passed : failed)++;
    }

    // Drain: a daemon left alone ships, verifies and cleans every run; then SIGTERM.
    bool drained = false;
    {
        test::child_process daemon(syncd);
        // SIGTERM is only handled once the daemon is up (before, the default action ends it).
        REQUIRE(daemon.wait_for_line("syncd ready", std::chrono::seconds(30)));
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
        while (std::chrono::steady_clock::now() < deadline) {
            bool all_gone = true;
            for (const auto& [id, files] : written) all_gone = all_gone && !fs::exists(runs / id);
            if (all_gone &&
                sqlite(state / "jobs.db", "SELECT count(*) FROM jobs WHERE state <> 'cleaned';") == "0\n") {
                drained = true;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        auto stopped = daemon.stop(SIGTERM, std::chrono::seconds(20));
        INFO("syncd stderr: " << daemon.stderr_text());
        REQUIRE(stopped);
        INFO("exit " << stopped->exit_code << " signal " << stopped->signal << " stderr " << stopped->err);
        CHECK(stopped->exit_code == 0);
    }
    INFO("jobs: " << sqlite(state / "jobs.db", "SELECT run_id, state, last_error FROM jobs;"));
    CHECK(drained);

    // Exactly once: one archive + one sidecar per run and nothing else visible.
    std::vector<std::string> expected_files;
    for (const auto& [id, files] : written) {
        expected_files.push_back("scope-1/" + id + ".json");
        expected_files.push_back("scope-1/" + id + ".tar.zst");
    }
    std::sort(expected_files.begin(), expected_files.end());
    CHECK(visible_files(rx.store()) == expected_files);
    unsigned content_ok = 0;
    for (const auto& [id, files] : written) {
        std::string why;
        bool good = stored_matches(rx, id, files, dir.path(), why);
        INFO(id << ": " << why);
        CHECK(good);
        content_ok += good;
    }
    CHECK(sqlite(state / "jobs.db",
                 "SELECT count(*) FROM (SELECT 1 FROM jobs GROUP BY equipment, run_id "
                 "HAVING count(*) > 1);") == "0\n");
    CHECK(sqlite(state / "jobs.db", "PRAGMA integrity_check;") == "ok\n");
    std::printf(
        "syncd kill -9 campaign: %d passed, %d failed (%u kills, %zu runs; checked after each kill: "
        "deleted runs have a stored byte-identical copy, jobs.db integrity ok; at the end: drained=%s, "
        "%u/%zu runs stored exactly once and byte-identical, one job per run)\n",
        passed, failed, iterations, written.size(), drained ? "yes" : "NO", content_ok, written.size());
    CHECK(failed == 0);
}

// SQLite under contention: a second process (sqlite3) holds the write lock of jobs.db for longer
// than the store's busy timeout (5 s) while runs arrive. The daemon must survive it, lose nothing,
// and ship, verify and clean every run once the lock is gone.
// Regression test of docs/reliability.md defect 2 (a refused transition stranded the job).
TEST_CASE("jobs.db write-locked by another process for 8 s: syncd survives and loses nothing") {
    test::temp_dir dir;
    fs::path runs = dir / "runs" / "scope-1";
    fs::create_directories(runs);
    fs::path state = dir / "state";
    receiver rx(dir / "store");
    fs::path config = dir / "syncd.toml";
    test::write_file(config, daemon_config_text(dir.path(), runs, state, rx.port()));
    test::child_process daemon({LABSYNC_SYNCD, "run", "--config", config.string(), "--log-level", "warning"});
    REQUIRE(daemon.wait_for_line("syncd ready", std::chrono::seconds(30)));

    std::map<std::string, run_files> written;
    for (unsigned k = 0; k < 2; ++k)
        written["before-" + std::to_string(k)] =
            make_recorded_run(runs, "before-" + std::to_string(k), 500 + k);
    // The lock holder: BEGIN EXCLUSIVE, 8 s, COMMIT. Runs arrive while it holds the lock.
    std::thread lock_holder([&] {
        test::process_options o;
        o.stdin_data = ".timeout 10000\nBEGIN EXCLUSIVE;\n.shell sleep 8\nCOMMIT;\n";
        o.timeout = std::chrono::seconds(30);
        test::run_process({"sqlite3", (state / "jobs.db").string()}, o);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    for (unsigned k = 0; k < 3; ++k)
        written["during-" + std::to_string(k)] =
            make_recorded_run(runs, "during-" + std::to_string(k), 600 + k);
    lock_holder.join();
    bool alive = daemon.running();
    INFO("syncd stderr: " << daemon.stderr_text());
    CHECK(alive);

    bool drained = false;
    auto released = std::chrono::steady_clock::now();
    auto deadline = released + std::chrono::seconds(30);
    while (alive && std::chrono::steady_clock::now() < deadline) {
        bool all_gone = true;
        for (const auto& [id, files] : written) all_gone = all_gone && !fs::exists(runs / id);
        if (all_gone &&
            sqlite(state / "jobs.db", "SELECT count(*) FROM jobs WHERE state <> 'cleaned';") == "0\n") {
            drained = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    double drain_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - released).count();
    INFO("jobs: " << sqlite(state / "jobs.db", "SELECT run_id, state, last_error FROM jobs;"));
    CHECK(drained);
    unsigned identical = 0;
    for (const auto& [id, files] : written) {
        std::string why;
        bool good = stored_matches(rx, id, files, dir.path(), why);
        INFO(id << ": " << why);
        CHECK(good);
        identical += good;
    }
    if (alive) {
        auto stopped = daemon.stop(SIGTERM, std::chrono::seconds(20));
        REQUIRE(stopped);
        CHECK(stopped->exit_code == 0);
    }
    CHECK(sqlite(state / "jobs.db", "PRAGMA integrity_check;") == "ok\n");
    bool ok = alive && drained && identical == written.size();
    std::printf(
        "sqlite contention: %d passed, %d failed (write lock held 8 s by sqlite3 while 3 runs arrived; "
        "checked: syncd alive, drained=%s %.1f s after the lock, %u/%zu runs stored byte-identical, "
        "integrity ok)\n",
        ok ? 1 : 0, ok ? 0 : 1, drained ? "yes" : "NO", drain_s, identical, written.size());
}
