// Component tests: the walker and open_run_file on real directories with symlinks and special files.
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/run_walker.hpp"

#include "skip.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

using namespace labsync::verifier;
namespace fs = std::filesystem;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

const walk_finding* finding(const walk_result& r, std::string_view path) {
    auto it =
        std::find_if(r.findings.begin(), r.findings.end(), [&](const auto& f) { return f.path == path; });
    return it == r.findings.end() ? nullptr : &*it;
}

std::vector<std::string> paths(const walk_result& r) {
    std::vector<std::string> out;
    for (const auto& f : r.files) out.emplace_back(f.path);
    return out;
}

// Binds a unix socket at `path` and closes it: the socket inode stays in the directory.
void make_socket(const fs::path& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.native().size() < sizeof addr.sun_path);
    std::strcpy(addr.sun_path, path.c_str());
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
}

}  // namespace

TEST_CASE("walker lists regular files sorted, directories, and sizes", "[walker]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "a-b", "1");
    write_file(run / "a" / "b" / "c.bin", "12345");
    write_file(run / "z", "");
    fs::create_directories(run / "empty" / "deeper");
    auto r = walk_run(run);
    REQUIRE_FALSE(r.error);
    CHECK(paths(r) == std::vector<std::string>{"a-b", "a/b/c.bin", "z"});
    CHECK(r.files[1].size == 5);
    CHECK((r.files[1].mode & S_IFMT) == S_IFREG);
    struct stat st {};
    REQUIRE(::stat((run / "a/b/c.bin").c_str(), &st) == 0);
    CHECK(r.files[1].mtime_ns == st.st_mtim.tv_sec * 1'000'000'000LL + st.st_mtim.tv_nsec);
    CHECK(r.directories == std::vector<std::string>{"a", "a/b", "empty", "empty/deeper"});
    CHECK(r.findings.empty());
}

TEST_CASE("symlinks inside and outside the run are reported, never followed", "[walker]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "data" / "real.txt", "inside");
    write_file(t / "outside" / "secret.txt", "outside");
    fs::create_symlink(t / "outside" / "secret.txt", run / "escape_file");
    fs::create_directory_symlink(t / "outside", run / "escape_dir");
    fs::create_symlink("real.txt", run / "data" / "inner_link");
    fs::create_directory_symlink("data", run / "data_link");
    fs::create_symlink("nowhere", run / "dangling");
    auto r = walk_run(run);
    REQUIRE_FALSE(r.error);
    CHECK(paths(r) == std::vector<std::string>{"data/real.txt"});
    CHECK(r.directories == std::vector<std::string>{"data"});
    for (const char* p : {"escape_file", "escape_dir", "data/inner_link", "data_link", "dangling"}) {
        INFO(p);
        auto f = finding(r, p);
        REQUIRE(f != nullptr);
        CHECK(f->kind == finding_kind::symlink);
    }
    CHECK(r.findings.size() == 5);
}

TEST_CASE("fifo and unix socket are findings", "[walker]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "ok", "x");
    REQUIRE(::mkfifo((run / "pipe").c_str(), 0644) == 0);
    make_socket(run / "sock");
    auto r = walk_run(run);
    REQUIRE_FALSE(r.error);
    CHECK(paths(r) == std::vector<std::string>{"ok"});
    REQUIRE(finding(r, "pipe") != nullptr);
    CHECK(finding(r, "pipe")->kind == finding_kind::fifo);
    REQUIRE(finding(r, "sock") != nullptr);
    CHECK(finding(r, "sock")->kind == finding_kind::socket);
    CHECK(to_string(finding_kind::fifo) == "fifo");
}

TEST_CASE("a device node is a finding", "[walker]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "ok", "x");
    if (::mknod((run / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0)
        labsync::test::skip_test("mknod of a device needs CAP_MKNOD: " + std::string(std::strerror(errno)));
    auto r = walk_run(run);
    REQUIRE_FALSE(r.error);
    CHECK(paths(r) == std::vector<std::string>{"ok"});
    REQUIRE(finding(r, "null") != nullptr);
    CHECK(finding(r, "null")->kind == finding_kind::device);
}

TEST_CASE("the run path itself must be a real directory", "[walker]") {
    temp_dir t;
    write_file(t / "file", "x");
    fs::create_directory(t / "dir");
    fs::create_directory_symlink(t / "dir", t / "link");
    CHECK(walk_run(t / "file").error == errc::not_a_directory);
    CHECK(walk_run(t / "link").error == errc::not_a_directory);
    CHECK(walk_run(t / "absent").error == std::errc::no_such_file_or_directory);
}

TEST_CASE("open_run_file reads inside the run and refuses symlinks and escapes", "[walker]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "d" / "f", "data");
    write_file(t / "outside", "secret");
    fs::create_directory_symlink(t.path(), run / "up");
    fs::create_symlink(t / "outside", run / "d" / "ln");
    REQUIRE(::mkfifo((run / "fifo").c_str(), 0644) == 0);
    std::error_code ec;
    auto dir = open_run_dir(run, ec);
    REQUIRE_FALSE(ec);

    auto fd = open_run_file(dir.get(), "d/f", ec);
    REQUIRE_FALSE(ec);
    char buf[8] = {};
    CHECK(::read(fd.get(), buf, sizeof buf) == 4);
    CHECK(std::string(buf, 4) == "data");

    CHECK_FALSE(open_run_file(dir.get(), "d/ln", ec));
    CHECK(ec == errc::local_file_changed);
    CHECK_FALSE(open_run_file(dir.get(), "up/outside", ec));
    CHECK(ec == errc::local_file_changed);
    CHECK_FALSE(open_run_file(dir.get(), "../outside", ec));
    CHECK(ec == errc::unsafe_path);
    CHECK_FALSE(open_run_file(dir.get(), "/etc/passwd", ec));
    CHECK(ec == errc::unsafe_path);
    CHECK_FALSE(open_run_file(dir.get(), "d//f", ec));
    CHECK(ec == errc::unsafe_path);
    CHECK_FALSE(open_run_file(dir.get(), "d/missing", ec));
    CHECK(ec == errc::local_file_vanished);
    CHECK_FALSE(open_run_file(dir.get(), "d", ec));  // a directory is not a file to read
    CHECK(ec == errc::local_file_changed);
    CHECK_FALSE(open_run_file(dir.get(), "fifo", ec));  // must not block on a fifo without writer
    CHECK(ec == errc::local_file_changed);
}

TEST_CASE("walker: an mtime past 2262 saturates the nanosecond count instead of wrapping to 1715",
          "[walker]") {
    labsync::test::temp_dir dir;
    const auto run = dir / "run";
    write_file(run / "far", "x");
    const std::int64_t year_2300 = 10'413'792'000;
    const timespec far_times[2] = {{year_2300, 5}, {year_2300, 5}};
    REQUIRE(::utimensat(AT_FDCWD, (run / "far").c_str(), far_times, 0) == 0);
    auto r = walk_run(run);
    REQUIRE_FALSE(r.error);
    REQUIRE(r.files.size() == 1);
    CHECK(r.files[0].mtime_ns == std::numeric_limits<std::int64_t>::max());
    CHECK(r.files[0].mtime_s == year_2300);
    CHECK(mtime_ns(-10'000'000'000, 0) == std::numeric_limits<std::int64_t>::min());  // 1653
    CHECK(mtime_ns(1, 2) == 1'000'000'002);
    CHECK(mtime_ns(-1, 0) == -1'000'000'000);
}
