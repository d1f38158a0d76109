// Deleting runs without following symlinks, quarantine moves with their reason file and pruning -
// against real directories. (Sweeping outbox archives is http_put's: test_http_put_outbox.cpp.)
#include "labsync/engine/run_files.hpp"

#include "temp_dir.hpp"

#include <sys/stat.h>
#include <utime.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace labsync::engine;
namespace fs = std::filesystem;
using labsync::test::read_file;
using labsync::test::temp_dir;
using labsync::test::write_file;

TEST_CASE("run files: remove_run_tree deletes the run but never what symlinks point to", "[cleanup]") {
    temp_dir dir;
    write_file(dir / "outside/keep.txt", "precious");
    write_file(dir / "runs/r1/a/b/c.bin", "x");
    write_file(dir / "runs/r1/top.bin", "y");
    fs::create_directory_symlink(dir / "outside", dir / "runs/r1/a/link-dir");
    fs::create_symlink(dir / "outside/keep.txt", dir / "runs/r1/link-file");
    REQUIRE(::mkfifo((dir / "runs/r1/fifo").c_str(), 0600) == 0);
    std::string where;
    CHECK_FALSE(remove_run_tree(dir / "runs", "r1", &where));
    CHECK_FALSE(fs::exists(dir / "runs/r1"));
    CHECK(read_file(dir / "outside/keep.txt") == "precious");
    CHECK(fs::exists(dir / "runs"));
}

TEST_CASE("run files: remove_run_tree refuses a symlinked run and bad names", "[cleanup]") {
    temp_dir dir;
    write_file(dir / "real/f", "z");
    fs::create_directories(dir / "runs");
    fs::create_directory_symlink(dir / "real", dir / "runs/r2");
    std::string where;
    CHECK(remove_run_tree(dir / "runs", "r2", &where));
    CHECK(fs::exists(dir / "real/f"));
    CHECK(remove_run_tree(dir / "runs", "..", &where) == std::errc::invalid_argument);
    CHECK(remove_run_tree(dir / "runs", "a/b", &where) == std::errc::invalid_argument);
    // A run that is already gone is success: the deletion it asked for has happened.
    CHECK_FALSE(remove_run_tree(dir / "runs", "missing", &where));
}

TEST_CASE("run files: an interrupted deletion leaves only a tombstone, removed by the next call",
          "[cleanup]") {
    temp_dir dir;
    write_file(dir / "runs/r5/a/b.bin", "x");
    // What a crash after the rename and part of the unlinking leaves behind.
    write_file(dir / "runs" / deletion_tombstone("r5") / "half/left.bin", "y");
    fs::rename(dir / "runs/r5", dir / "runs/r5-new");  // the run path is free...
    std::string where;
    CHECK_FALSE(remove_run_tree(dir / "runs", "r5", &where));  // ...so only the tombstone goes
    CHECK_FALSE(fs::exists(dir / "runs" / deletion_tombstone("r5")));
    CHECK(fs::exists(dir / "runs/r5-new/a/b.bin"));
    // A run and a stale tombstone of the same name: both end up removed, nothing else touched.
    write_file(dir / "runs/r6/data.bin", "d");
    write_file(dir / "runs" / deletion_tombstone("r6") / "old.bin", "o");
    CHECK_FALSE(remove_run_tree(dir / "runs", "r6", &where));
    CHECK_FALSE(fs::exists(dir / "runs/r6"));
    CHECK_FALSE(fs::exists(dir / "runs" / deletion_tombstone("r6")));
    CHECK(fs::exists(dir / "runs/r5-new/a/b.bin"));
}

TEST_CASE("run files: quarantine moves the run and writes its reason", "[quarantine]") {
    temp_dir dir;
    write_file(dir / "runs/r3/data.bin", "d");
    quarantine_reason r{"scope-1",
                        "r3",
                        "rejected",
                        412,
                        R"({"remediation":"upgrade"})",
                        "412 commit",
                        2,
                        std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000))};
    fs::path dest;
    bool moved = false;
    REQUIRE_FALSE(move_to_quarantine(dir / "runs/r3", dir / "q", r, dest, moved));
    CHECK(moved);
    CHECK(dest == dir / "q/scope-1/r3");
    CHECK_FALSE(fs::exists(dir / "runs/r3"));
    CHECK(read_file(dest / "data.bin") == "d");
    auto j = nlohmann::json::parse(read_file(dest / "quarantine_reason.json"));
    CHECK(j["status"] == 412);
    CHECK(j["attempts"] == 2);
    CHECK(j["code"] == "rejected");
    CHECK(j["time"] == "2023-11-14T22:13:20Z");
    CHECK(j["body"] == R"({"remediation":"upgrade"})");
    // Same run quarantined again: a numbered sibling, nothing overwritten.
    write_file(dir / "runs/r3/data.bin", "e");
    REQUIRE_FALSE(move_to_quarantine(dir / "runs/r3", dir / "q", r, dest, moved));
    CHECK(dest == dir / "q/scope-1/r3.1");
}

TEST_CASE("run files: quarantine pruning by age, 0 keeps forever", "[quarantine]") {
    temp_dir dir;
    write_file(dir / "q/eq/old/f", "1");
    write_file(dir / "q/eq/new/f", "2");
    const auto now = std::chrono::system_clock::now();
    const auto old_time = std::chrono::system_clock::to_time_t(now - std::chrono::hours(24 * 40));
    utimbuf times{old_time, old_time};
    REQUIRE(::utime((dir / "q/eq/old").c_str(), &times) == 0);
    CHECK(prune_quarantine(dir / "q", 0, now).empty());
    auto removed = prune_quarantine(dir / "q", 30, now);
    REQUIRE(removed.size() == 1);
    CHECK_FALSE(fs::exists(dir / "q/eq/old"));
    CHECK(fs::exists(dir / "q/eq/new/f"));
}
