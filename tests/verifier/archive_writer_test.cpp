// Component tests of pack_run() on real directories: determinism, extraction with the real
// `tar --zstd`, the embedded manifest, files changing during the pack, and a full disk.
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include "archive_test_util.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

using namespace labsync::verifier;
namespace fs = std::filesystem;
using labsync::test::random_bytes;
using labsync::test::read_file;
using labsync::test::run_process;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

// A run with the awkward cases: long paths (> 100 and > 255 bytes), spaces, UTF-8, an empty file,
// an empty directory, a file over one read buffer, and a symlink (not archived).
void make_awkward_run(const fs::path& run) {
    write_file(run / "done.marker", "");
    write_file(run / "data" / "big.bin", random_bytes((5u << 20) + 123, 1));
    write_file(run / "data" / "log.csv", std::string(200000, 'a'));
    write_file(run / "with space" / "caf\xc3\xa9 \xce\xb1\xce\xb2.txt", "utf-8 name\n");
    std::string mid = std::string(60, 'm') + "/" + std::string(60, 'n');
    write_file(run / mid / "long-over-100.txt", "over 100\n");
    std::string deep = std::string(100, 'd') + "/" + std::string(100, 'e') + "/" + std::string(80, 'f');
    write_file(run / deep / "long-over-255.txt", "over 255\n");
    fs::create_directories(run / "empty" / "nested-empty");
    fs::create_symlink("/etc/passwd", run / "link");
    fs::permissions(run / "data" / "log.csv", fs::perms(0600));
}

bool has_partial_or_final(const fs::path& out) {
    return fs::exists(out) || fs::exists(out.string() + ".partial");
}

std::string find_finding(const pack_result& r, std::string_view path) {
    for (const auto& f : r.findings)
        if (f.path == path) return std::string(to_string(f.kind));
    return "";
}

}  // namespace

TEST_CASE("pack: repeated archives of the same run are byte-identical", "[archive][component]") {
    temp_dir dir;
    make_awkward_run(dir / "run");
    auto a = pack_run(dir / "run", dir / "a.tar.zst");
    REQUIRE(a.ok());
    auto b = pack_run(dir / "run", dir / "b.tar.zst");
    REQUIRE(b.ok());
    CHECK(a.sha256 == b.sha256);
    CHECK(read_file(dir / "a.tar.zst") == read_file(dir / "b.tar.zst"));
    CHECK(a.compressed_bytes == fs::file_size(dir / "a.tar.zst"));
    CHECK(a.sha256 == to_hex(sha256::of(read_file(dir / "a.tar.zst"))));
    CHECK_FALSE(fs::exists(dir / "a.tar.zst.partial"));
    // The worker count does not change the bytes (libzstd's multi-threaded format is fixed).
    pack_options four;
    four.threads = 4;
    auto c = pack_run(dir / "run", dir / "c.tar.zst", four);
    REQUIRE(c.ok());
    CHECK(c.sha256 == a.sha256);
}

TEST_CASE("pack: real tar extracts the archive to a tree equal to the run", "[archive][component]") {
    temp_dir dir;
    make_awkward_run(dir / "run");
    auto packed = pack_run(dir / "run", dir / "run.tar.zst");
    REQUIRE(packed.ok());
    CHECK(find_finding(packed, "link") == "symlink");
    CHECK(packed.file_count == 6);

    auto local = build_manifest(dir / "run");
    REQUIRE(local.ok());
    CHECK(packed.manifest == local.manifest);
    CHECK(packed.input_bytes == local.manifest.total_bytes());

    fs::create_directories(dir / "x");
    auto tar =
        run_process({"tar", "--zstd", "-xf", (dir / "run.tar.zst").string(), "-C", (dir / "x").string()});
    INFO(tar.err);
    REQUIRE(tar.exit_code == 0);
    // The embedded manifest is the verifier's manifest text, byte for byte.
    CHECK(read_file(dir / "x" / ".labsync" / "manifest.sha256") == local.manifest.to_sha256sum());
    fs::remove_all(dir / "x" / ".labsync");
    auto extracted = build_manifest(dir / "x");
    REQUIRE(extracted.ok());
    CHECK(extracted.manifest.to_sha256sum() == local.manifest.to_sha256sum());
    CHECK(fs::is_directory(dir / "x" / "empty" / "nested-empty"));
    CHECK_FALSE(fs::exists(dir / "x" / "link"));
    // Permissions and mtimes (seconds) survive.
    CHECK((fs::status(dir / "x" / "data" / "log.csv").permissions() & fs::perms::all) == fs::perms(0600));
    auto mtime = [](const fs::path& p) {
        struct stat st {};
        REQUIRE(::stat(p.c_str(), &st) == 0);
        return st.st_mtim.tv_sec;
    };
    CHECK(mtime(dir / "x" / "data" / "big.bin") == mtime(dir / "run" / "data" / "big.bin"));

    auto check = check_archive_file(dir / "run.tar.zst");
    INFO(check.error_reason);
    CHECK(check.ok());
    CHECK(check.sha256 == packed.sha256);
    CHECK(check.files == 6);
}

TEST_CASE("pack: an empty run holds just the manifest", "[archive][component]") {
    temp_dir dir;
    fs::create_directories(dir / "run");
    auto packed = pack_run(dir / "run", dir / "e.tar.zst");
    REQUIRE(packed.ok());
    CHECK(packed.file_count == 0);
    auto check = check_archive_file(dir / "e.tar.zst");
    CHECK(check.ok());
    CHECK(check.members == 1);
}

TEST_CASE("pack: a file that vanishes before it is read fails with local_file_vanished",
          "[archive][component]") {
    temp_dir dir;
    make_awkward_run(dir / "run");
    pack_options options;
    options.before_read = [&](std::string_view path) {
        if (path == "data/log.csv") fs::remove(dir / "run" / "data" / "log.csv");
    };
    auto r = pack_run(dir / "run", dir / "v.tar.zst", options);
    CHECK(r.error == errc::local_file_vanished);
    CHECK(r.error_path == "data/log.csv");
    CHECK(r.error_message.find("data/log.csv") != std::string::npos);
    CHECK(r.sha256.empty());
    CHECK_FALSE(has_partial_or_final(dir / "v.tar.zst"));
}

TEST_CASE("pack: a file that grows or shrinks fails with local_file_changed", "[archive][component]") {
    temp_dir dir;
    make_awkward_run(dir / "run");
    const fs::path target = dir / "run" / "data" / "big.bin";
    SECTION("grows") {
        pack_options options;
        options.before_read = [&](std::string_view path) {
            if (path == "data/big.bin") std::ofstream(target, std::ios::app) << "more";
        };
        auto r = pack_run(dir / "run", dir / "g.tar.zst", options);
        CHECK(r.error == errc::local_file_changed);
        CHECK(r.error_path == "data/big.bin");
        CHECK_FALSE(has_partial_or_final(dir / "g.tar.zst"));
    }
    SECTION("shrinks") {
        pack_options options;
        options.before_read = [&](std::string_view path) {
            if (path == "data/big.bin") fs::resize_file(target, 1000);
        };
        auto r = pack_run(dir / "run", dir / "s.tar.zst", options);
        CHECK(r.error == errc::local_file_changed);
        CHECK(r.error_path == "data/big.bin");
        CHECK_FALSE(has_partial_or_final(dir / "s.tar.zst"));
    }
    SECTION("replaced by a symlink") {
        pack_options options;
        options.before_read = [&](std::string_view path) {
            if (path != "data/big.bin") return;
            fs::remove(target);
            fs::create_symlink("/etc/passwd", target);
        };
        auto r = pack_run(dir / "run", dir / "l.tar.zst", options);
        CHECK(r.error == errc::local_file_changed);
        CHECK_FALSE(has_partial_or_final(dir / "l.tar.zst"));
    }
}

TEST_CASE("pack: a name reserved for the embedded manifest is refused", "[archive][component]") {
    temp_dir dir;
    write_file(dir / "run" / ".labsync" / "manifest.sha256", "x");
    auto r = pack_run(dir / "run", dir / "r.tar.zst");
    CHECK(r.error == errc::unsafe_path);
    CHECK_FALSE(has_partial_or_final(dir / "r.tar.zst"));
}

TEST_CASE("pack: a full disk fails with no_space and leaves nothing behind", "[archive][component]") {
    temp_dir dir;
    // Data zstd cannot shrink, into a 1 MiB filesystem: 3 MiB is packed on the calling thread,
    // 6 MiB with the reading and writing threads (both error paths).
    write_file(dir / "run" / "a.bin", random_bytes(3u << 20, 7));
    write_file(dir / "big" / "a.bin", random_bytes(6u << 20, 8));
    fs::create_directories(dir / "small");
    if (::mount("tmpfs", (dir / "small").c_str(), "tmpfs", 0, "size=1m") == 0) {
        for (const char* run : {"run", "big"}) {
            INFO(run);
            auto r = pack_run(dir / run, dir / "small" / "out.tar.zst");
            CHECK(r.error == errc::no_space);
            CHECK(r.error_path == (dir / "small" / "out.tar.zst.partial").string());
            CHECK_FALSE(has_partial_or_final(dir / "small" / "out.tar.zst"));
        }
        ::umount2((dir / "small").c_str(), MNT_DETACH);
        return;
    }
    // Not allowed to mount (not root): a file size limit in a child process makes write() fail
    // with EFBIG, the same "cannot grow" path as ENOSPC, and checks the cleanup.
    WARN("tmpfs mount not permitted; using RLIMIT_FSIZE (EFBIG) instead of ENOSPC");
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit lim{1u << 20, 1u << 20};
        ::setrlimit(RLIMIT_FSIZE, &lim);
        auto r = pack_run(dir / "run", dir / "out.tar.zst");
        bool ok = r.error == std::errc::file_too_large && !has_partial_or_final(dir / "out.tar.zst");
        ::_exit(ok ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("pack: a missing run directory or unwritable output is reported", "[archive][component]") {
    temp_dir dir;
    auto r = pack_run(dir / "nope", dir / "o.tar.zst");
    CHECK(r.error == std::errc::no_such_file_or_directory);
    write_file(dir / "run" / "f", "x");
    auto w = pack_run(dir / "run", dir / "no-such-dir" / "o.tar.zst");
    CHECK(w.error == std::errc::no_such_file_or_directory);
    CHECK(w.error_message.find("no-such-dir") != std::string::npos);
}

#ifdef LABSYNC_SYNCD
TEST_CASE("syncd pack and check-archive print sha256, bytes and file count", "[archive][integration]") {
    temp_dir dir;
    write_file(dir / "run" / "a.txt", "alpha\n");
    write_file(dir / "run" / "sub" / "b.bin", random_bytes(70000, 3));
    auto out = (dir / "run.tar.zst").string();
    auto text = run_process({LABSYNC_SYNCD, "pack", (dir / "run").string(), out, "--level", "5"});
    INFO(text.err);
    REQUIRE(text.exit_code == 0);
    std::string sha = to_hex(sha256::of(read_file(out)));
    CHECK(text.out.find("sha256 " + sha) != std::string::npos);
    CHECK(text.out.find("files 2\n") != std::string::npos);

    auto json = run_process({LABSYNC_SYNCD, "pack", "--json", (dir / "run").string(), out});
    REQUIRE(json.exit_code == 0);
    CHECK(json.out.find("\"files\":2") != std::string::npos);
    CHECK(json.out.find("\"bytes\":" + std::to_string(fs::file_size(out))) != std::string::npos);

    auto ok = run_process({LABSYNC_SYNCD, "check-archive", out});
    CHECK(ok.exit_code == 0);
    CHECK(ok.out.find("sha256 " + to_hex(sha256::of(read_file(out)))) != std::string::npos);

    std::string bytes = read_file(out);
    bytes.resize(bytes.size() / 2);
    write_file(dir / "half.tar.zst", bytes);
    auto bad = run_process({LABSYNC_SYNCD, "check-archive", "--json", (dir / "half.tar.zst").string()});
    CHECK(bad.exit_code == 3);
    CHECK(bad.out.find("\"ok\":false") != std::string::npos);

    auto missing = run_process({LABSYNC_SYNCD, "pack", (dir / "nope").string(), out});
    CHECK(missing.exit_code == 2);
}
#endif
