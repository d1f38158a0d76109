// Component tests: the stat fingerprint of a run (verifier/fingerprint.hpp) on real files, from
// the manifest pass and from the metadata-only walk, and every change it must see.
#include "labsync/verifier/fingerprint.hpp"

#include "settled_run.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

using namespace labsync::verifier;
namespace fs = std::filesystem;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

void make_run(const fs::path& run) {
    write_file(run / "a.bin", std::string(5000, 'a'));
    write_file(run / "sub" / "b.txt", "hello\n");
    write_file(run / "sub" / "deep" / "c.txt", "c\n");
    fs::create_directories(run / "empty");
    fs::create_symlink("a.bin", run / "link");
    labsync::test::wait_until_fingerprint_exact(run);
}

void set_mtime(const fs::path& path, const struct stat& st) {
    const timespec times[2] = {st.st_atim, st.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

struct stat lstat_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
}

}  // namespace

TEST_CASE("fingerprint: the manifest pass and the metadata walk agree on an unchanged run", "[fingerprint]") {
    temp_dir t;
    const auto run = t / "run";
    make_run(run);
    const auto built = build_manifest(run);
    REQUIRE(built.ok());
    REQUIRE(built.fingerprints.size() == built.manifest.entries().size());
    const auto from_build = fingerprint_digest(built);
    const auto from_walk = fingerprint_run(run);
    REQUIRE(from_build.ok());
    REQUIRE(from_walk.ok());
    CHECK(from_build.exact);
    CHECK(from_walk.exact);
    CHECK(from_build.digest == from_walk.digest);
    CHECK(fingerprint_run(run).digest == from_walk.digest);  // and it is stable
    // Reading every byte again (a second manifest pass) changes nothing either.
    CHECK(fingerprint_digest(build_manifest(run)).digest == from_build.digest);
}

TEST_CASE("fingerprint: every change to a file or to the tree's shape changes it", "[fingerprint]") {
    using change = std::function<void(const fs::path&)>;
    const std::vector<std::pair<std::string, change>> changes = {
        {"content rewritten, same size, mtime restored (ctime moves)",
         [](const fs::path& run) {
             const auto st = lstat_of(run / "a.bin");
             {
                 std::fstream f(run / "a.bin", std::ios::in | std::ios::out | std::ios::binary);
                 f.seekp(100);
                 f.put('X');
             }
             set_mtime(run / "a.bin", st);
             CHECK(lstat_of(run / "a.bin").st_size == st.st_size);
             CHECK(lstat_of(run / "a.bin").st_mtim.tv_nsec == st.st_mtim.tv_nsec);
         }},
        {"replaced by a rename of an identical copy, mtime restored (inode)",
         [](const fs::path& run) {
             const auto st = lstat_of(run / "sub" / "b.txt");
             write_file(run / "sub" / ".b.tmp", "hello\n");
             set_mtime(run / "sub" / ".b.tmp", st);
             fs::rename(run / "sub" / ".b.tmp", run / "sub" / "b.txt");
         }},
        {"touch",
         [](const fs::path& run) {
             fs::last_write_time(run / "sub" / "deep" / "c.txt", fs::file_time_type::clock::now());
         }},
        {"file added", [](const fs::path& run) { write_file(run / "sub" / "new.txt", ""); }},
        {"file removed", [](const fs::path& run) { fs::remove(run / "sub" / "deep" / "c.txt"); }},
        {"directory added", [](const fs::path& run) { fs::create_directories(run / "empty" / "more"); }},
        {"empty directory removed", [](const fs::path& run) { fs::remove(run / "empty"); }},
        {"symlink added", [](const fs::path& run) { fs::create_symlink("nowhere", run / "sub" / "l2"); }},
        {"symlink removed", [](const fs::path& run) { fs::remove(run / "link"); }},
        {"symlink pointed elsewhere",
         [](const fs::path& run) {
             fs::remove(run / "link");
             fs::create_symlink("sub/b.txt", run / "link");
         }},
        {"fifo added", [](const fs::path& run) { REQUIRE(::mkfifo((run / "pipe").c_str(), 0644) == 0); }},
    };
    for (const auto& [what, apply] : changes) {
        DYNAMIC_SECTION(what) {
            temp_dir t;
            const auto run = t / "run";
            make_run(run);
            const auto before = fingerprint_digest(build_manifest(run));
            REQUIRE(before.ok());
            REQUIRE(before.exact);
            apply(run);
            const auto after = fingerprint_run(run);
            REQUIRE(after.ok());
            CHECK(after.digest != before.digest);
        }
    }
}

TEST_CASE("fingerprint: a file changed at or after the walk's tick makes it inexact (racy)",
          "[fingerprint]") {
    temp_dir t;
    const auto run = t / "run";
    make_run(run);
    auto walk = walk_run(run);
    REQUIRE(fingerprint_digest(walk).exact);
    std::int64_t newest = 0;
    for (const auto& f : walk.files) newest = std::max(newest, f.ctime_ns);
    walk.started_ns = newest;  // the walk began in the tick of the newest change
    CHECK_FALSE(fingerprint_digest(walk).exact);
    walk.started_ns = newest + 1;
    CHECK(fingerprint_digest(walk).exact);
}

TEST_CASE("fingerprint: the walk records ctime, inode, device and link targets", "[fingerprint]") {
    temp_dir t;
    const auto run = t / "run";
    make_run(run);
    const auto walk = walk_run(run);
    REQUIRE_FALSE(walk.error);
    REQUIRE(walk.files.size() == 3);
    const auto st = lstat_of(run / "a.bin");
    CHECK(walk.files[0].path == "a.bin");
    CHECK(walk.files[0].inode == st.st_ino);
    CHECK(walk.files[0].device == st.st_dev);
    CHECK(walk.files[0].ctime_ns == mtime_ns(st.st_ctim));
    REQUIRE(walk.findings.size() == 1);
    CHECK(walk.findings[0].target == "a.bin");
    CHECK(walk.started_ns > 0);
}

TEST_CASE("fingerprint: a missing run is an error, not a digest", "[fingerprint]") {
    temp_dir t;
    const auto missing = fingerprint_run(t / "nope");
    CHECK_FALSE(missing.ok());
    build_result failed;
    failed.error = std::make_error_code(std::errc::io_error);
    failed.error_path = "x";
    CHECK(fingerprint_digest(failed).error == std::errc::io_error);
    // A build_result without stats (a builder that did not keep them) gives nothing to record.
    build_result bare;
    bare.manifest = manifest({{"a", 1, {}}});
    CHECK_FALSE(fingerprint_digest(bare).exact);
}
