// Fault campaign: EIO and ENOSPC injected into the real syscalls of `syncd manifest` and
// `syncd pack` with `strace -e inject=` (-P limits the injection to one file of the run or the
// archive being written). Checked: a clear error naming the file, a non-zero exit, nothing
// half-written left behind, the run untouched, and the same command succeeding without the fault.
#include "process.hpp"
#include "skip.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

using namespace labsync::test;
namespace fs = std::filesystem;

namespace {

bool have_strace() {
    return run_process({"strace", "-V"}).exit_code == 0;
}

std::vector<std::string> under_strace(const std::string& fault, const fs::path& path,
                                      std::vector<std::string> command) {
    std::vector<std::string> argv{"strace",         "-f", "-qq", "-o", "/dev/null", "-P", path.string(), "-e",
                                  "inject=" + fault};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
}

void make_run(const fs::path& run) {
    write_file(run / "a.bin", std::string(3u << 20, 'a'));
    write_file(run / "sub/b.csv", "1,2,3\n");
    write_file(run / "done.marker", "");
}

}  // namespace

TEST_CASE("EIO reading a run file: manifest and pack fail naming the file, nothing left behind",
          "[fault][syscall]") {
    if (!have_strace()) skip_test("strace is not installed: no syscall fault injection");
    temp_dir t;
    const auto run = t / "run-0001";
    make_run(run);
    const auto before = run_process({LABSYNC_SYNCD, "manifest", run.string()});
    REQUIRE(before.exit_code == 0);

    auto m =
        run_process(under_strace("read:error=EIO", run / "a.bin", {LABSYNC_SYNCD, "manifest", run.string()}));
    CHECK(m.exit_code == 1);
    CHECK(m.err.find("a.bin") != std::string::npos);
    CHECK(m.err.find("I/O error") != std::string::npos);

    const auto out = t / "out/run-0001.tar.zst";
    fs::create_directories(out.parent_path());
    auto p = run_process(
        under_strace("read:error=EIO", run / "a.bin", {LABSYNC_SYNCD, "pack", run.string(), out.string()}));
    CHECK(p.exit_code != 0);
    CHECK(p.err.find("a.bin") != std::string::npos);
    CHECK(p.err.find("I/O error") != std::string::npos);
    CHECK(fs::is_empty(out.parent_path()));  // neither the archive nor its .partial

    // The run is untouched and the same command works once the disk behaves.
    CHECK(run_process({LABSYNC_SYNCD, "manifest", run.string()}).out == before.out);
    CHECK(run_process({LABSYNC_SYNCD, "pack", run.string(), out.string()}).exit_code == 0);
    CHECK(run_process({LABSYNC_SYNCD, "check-archive", out.string()}).exit_code == 0);
}

TEST_CASE("ENOSPC and EIO writing the archive: pack fails clearly and removes its .partial",
          "[fault][syscall]") {
    if (!have_strace()) skip_test("strace is not installed: no syscall fault injection");
    temp_dir t;
    const auto run = t / "run-0002";
    make_run(run);
    const auto out = t / "out/run-0002.tar.zst";
    fs::create_directories(out.parent_path());
    const fs::path partial = out.string() + ".partial";
    for (const auto& [fault, says] : std::vector<std::pair<std::string, std::string>>{
             {"write:error=ENOSPC", "no space left on device"}, {"write:error=EIO", "I/O error"}}) {
        INFO(fault);
        auto p =
            run_process(under_strace(fault, partial, {LABSYNC_SYNCD, "pack", run.string(), out.string()}));
        CHECK(p.exit_code != 0);
        CHECK(p.err.find(says) != std::string::npos);
        CHECK(fs::is_empty(out.parent_path()));
    }
    CHECK(run_process({LABSYNC_SYNCD, "pack", run.string(), out.string()}).exit_code == 0);
}
