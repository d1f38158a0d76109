// `syncd manifest` as a real process, compared with coreutils on the same tree.
#include "labsync/verifier/sha256.hpp"

#include "process.hpp"
#include "skip.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

namespace fs = std::filesystem;
using labsync::test::run_process;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

const std::string find_sort_sha256sum =
    "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum";

std::string coreutils_manifest(const fs::path& dir) {
    labsync::test::process_options opts;
    opts.cwd = dir;
    auto r = run_process({"/bin/sh", "-c", find_sort_sha256sum}, opts);
    REQUIRE(r.exit_code == 0);
    return r.out;
}

void make_tree(const fs::path& run) {
    write_file(run / "top.txt", "top\n");
    write_file(run / "a" / "b" / "c" / "deep.dat", std::string(2'500'000, 'z'));
    write_file(run / "a-b", "dash sorts before slash");
    write_file(run / "a" / "x y.txt", "space");
    write_file(run / "a" / "b" / "\xc3\xa9t\xc3\xa9.csv", "utf8");
    write_file(run / "empty.bin", "");
    fs::create_directories(run / "empty_dir");
}

}  // namespace

TEST_CASE("syncd manifest equals find | sort | sha256sum on a nested tree", "[syncd]") {
    temp_dir t;
    make_tree(t / "run");
    auto r = run_process({LABSYNC_SYNCD, "manifest", (t / "run").string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == coreutils_manifest(t / "run"));
    CHECK(r.out.find("a-b\n") < r.out.find("a/b/c/deep.dat"));
}

TEST_CASE("syncd manifest escapes odd names exactly like sha256sum", "[syncd]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "back\\slash", "1");
    write_file(run / "new\nline", "2");
    write_file(run / "carriage\rreturn", "3");
    write_file(run / "dir\\x" / "n\nested", "4");
    write_file(run / "plain", "5");
    auto r = run_process({LABSYNC_SYNCD, "manifest", run.string()});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == coreutils_manifest(run));
    CHECK(r.out.find("\\") == 0);  // first escaped line starts with a backslash
    // And sha256sum -c accepts our text as its own.
    labsync::test::process_options opts;
    opts.cwd = run;
    opts.stdin_data = r.out;
    auto check = run_process({"sha256sum", "-c", "--strict", "--quiet", "-"}, opts);
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
}

TEST_CASE("syncd manifest --json and findings on stderr", "[syncd]") {
    temp_dir t;
    auto run = t / "run";
    write_file(run / "f", "hello");
    fs::create_symlink("/etc/passwd", run / "escape");
    REQUIRE(::mkfifo((run / "pipe").c_str(), 0644) == 0);
    auto r = run_process({LABSYNC_SYNCD, "manifest", "--json", run.string()});
    CHECK(r.exit_code == 1);  // findings present
    auto doc = nlohmann::json::parse(r.out);
    REQUIRE(doc["files"].size() == 1);
    CHECK(doc["files"][0]["path"] == "f");
    CHECK(doc["files"][0]["size"] == 5);
    CHECK(doc["files"][0]["sha256"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    CHECK(doc["total_bytes"] == 5);
    CHECK_THAT(r.err, Catch::Contains("finding: symlink 'escape': "));
    CHECK_THAT(r.err, Catch::Contains("finding: fifo 'pipe': "));
    auto allowed = run_process({LABSYNC_SYNCD, "manifest", "--allow-findings", run.string()});
    CHECK(allowed.exit_code == 0);
    CHECK(allowed.out == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824  f\n");
}

TEST_CASE("syncd manifest reports unreadable entries when not running as root", "[syncd]") {
    // Root reads everything (CAP_DAC_OVERRIDE), so the manifest runs as `nobody` via setpriv.
    temp_dir t;
    auto run = t / "run";
    write_file(run / "public.txt", "anyone");
    write_file(run / "secret.txt", "root only");
    write_file(run / "private" / "inside.txt", "hidden");
    fs::permissions(t.path(), fs::perms(0755));
    fs::permissions(run, fs::perms(0755));
    fs::permissions(run / "public.txt", fs::perms(0644));
    fs::permissions(run / "secret.txt", fs::perms(0600));
    fs::permissions(run / "private", fs::perms(0700));
    if (!labsync::test::running_as_root()) labsync::test::skip_test("not root: cannot switch to nobody");
    auto r = run_process({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", LABSYNC_SYNCD,
                          "manifest", run.string()});
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.out == labsync::verifier::to_hex(labsync::verifier::sha256::of("anyone")) + "  public.txt\n");
    CHECK_THAT(r.err, Catch::Contains("finding: unreadable 'secret.txt': "));
    CHECK_THAT(r.err, Catch::Contains("finding: unreadable 'private': "));
}

TEST_CASE("syncd manifest: a run path that is missing or not a directory is a usage error", "[syncd]") {
    temp_dir t;
    auto r = run_process({LABSYNC_SYNCD, "manifest", (t / "absent").string()});
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("absent") && Catch::Contains("No such file"));
    write_file(t / "file", "x");
    auto f = run_process({LABSYNC_SYNCD, "manifest", (t / "file").string()});
    CHECK(f.exit_code == 2);
    CHECK_THAT(f.err, Catch::Contains("not a directory"));
}
