// The subprocess helper against real programs: exit codes, signals, tails, lines, missing
// binaries, clean environment and the process-group kill on timeout.
#include "labsync/transports/subprocess.hpp"

#include "temp_dir.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <catch2/catch.hpp>

#include <signal.h>

#include <fstream>
#include <thread>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
using namespace labsync::transports;
using namespace boost::asio::experimental::awaitable_operators;

namespace {
// The process is gone (or a zombie waiting for init to reap it). SIGKILL is delivered
// asynchronously, so give the kernel a moment.
bool gone_soon(int pid) {
    auto gone = [&] {
        if (::kill(pid, 0) != 0) return true;
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string p, comm, state;
        stat >> p >> comm >> state;
        return state == "Z" || state == "X" || state.empty();
    };
    for (int i = 0; i < 200; ++i) {
        if (gone()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
}

subprocess_result run(subprocess_options options) {
    asio::io_context io;
    auto fut = asio::co_spawn(io, run_subprocess(std::move(options)), asio::use_future);
    io.run();
    return fut.get();
}
}  // namespace

TEST_CASE("output_capture keeps the tail and splits lines on CR and LF", "[rsync][subprocess]") {
    std::vector<std::string> lines;
    output_capture cap(8, [&](std::string_view l) { lines.emplace_back(l); });
    cap.feed("ab\rcd");
    cap.feed("ef\n\n12345678");
    cap.finish();
    CHECK(cap.tail() == "12345678");
    CHECK(cap.truncated());
    CHECK(cap.total_bytes() == 17);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "ab");
    CHECK(lines[1] == "cdef");
    CHECK(lines[2] == "12345678");
    output_capture small(64);
    small.feed("xyz");
    CHECK(small.tail() == "xyz");
    CHECK_FALSE(small.truncated());
}

TEST_CASE("find_on_path resolves executables only", "[rsync][subprocess]") {
    CHECK(find_on_path("sh", "/nonexistent:/bin:/usr/bin").has_value());
    CHECK_FALSE(find_on_path("sh", "/nonexistent").has_value());
    CHECK_FALSE(find_on_path("passwd", "/etc").has_value());  // not executable
    CHECK(find_on_path("/bin/sh", "").has_value());
    CHECK_FALSE(find_on_path("", "/bin").has_value());
}

TEST_CASE("exit code, captured streams and lines", "[rsync][subprocess]") {
    std::vector<std::string> lines;
    subprocess_options o;
    o.argv = {"sh", "-c", "printf 'one\\ntwo\\n'; echo err >&2; exit 3"};
    o.on_stdout_line = [&](std::string_view l) { lines.emplace_back(l); };
    auto r = run(o);
    CHECK(r.status == subprocess_result::outcome::exited);
    CHECK(r.exit_code == 3);
    CHECK(r.stdout_tail == "one\ntwo\n");
    CHECK(r.stderr_tail == "err\n");
    CHECK(lines == std::vector<std::string>{"one", "two"});
    CHECK(r.binary.filename() == "sh");
}

TEST_CASE("the environment is minimal plus explicit additions", "[rsync][subprocess]") {
    ::setenv("LABSYNC_LEAK_CHECK", "leaked", 1);
    subprocess_options o;
    o.argv = {"env"};
    o.env["EXTRA"] = "1";
    auto r = run(o);
    ::unsetenv("LABSYNC_LEAK_CHECK");
    REQUIRE(r.success());
    CHECK(r.stdout_tail.find("LANG=C\n") != std::string::npos);
    CHECK(r.stdout_tail.find("EXTRA=1\n") != std::string::npos);
    CHECK(r.stdout_tail.find("PATH=") != std::string::npos);
    CHECK(r.stdout_tail.find("LABSYNC_LEAK_CHECK") == std::string::npos);
}

TEST_CASE("large output keeps only the tail", "[rsync][subprocess]") {
    subprocess_options o;
    o.argv = {"sh", "-c", "head -c 300000 /dev/zero | tr '\\0' a; echo END"};
    o.capture_limit = 1024;
    auto r = run(o);
    REQUIRE(r.success());
    CHECK(r.stdout_truncated);
    CHECK(r.stdout_tail.size() == 1024);
    CHECK(r.stdout_tail.substr(1020) == "END\n");
}

TEST_CASE("a missing binary is reported with its name and the equipment", "[rsync][subprocess]") {
    subprocess_options o;
    o.argv = {"rsync", "--version"};
    o.path_env = "/nonexistent-dir";
    o.equipment = "scope-1";
    auto r = run(o);
    CHECK(r.status == subprocess_result::outcome::binary_missing);
    CHECK(r.message.find("'rsync'") != std::string::npos);
    CHECK(r.message.find("scope-1") != std::string::npos);
}

TEST_CASE("a signal death is reported", "[rsync][subprocess]") {
    subprocess_options o;
    o.argv = {"sh", "-c", "kill -TERM $$"};
    auto r = run(o);
    CHECK(r.status == subprocess_result::outcome::signaled);
    CHECK(r.signal == SIGTERM);
}

TEST_CASE("a timeout kills the whole process group", "[rsync][subprocess]") {
    labsync::test::temp_dir dir;
    const auto pidfile = dir / "grandchild.pid";
    subprocess_options o;
    // The grandchild keeps the pipes open and would outlive a kill of the direct child alone.
    o.argv = {"sh", "-c", "sleep 30 & echo $! > '" + pidfile.string() + "'; wait"};
    o.timeout = std::chrono::milliseconds(300);
    auto r = run(o);
    CHECK(r.status == subprocess_result::outcome::timed_out);
    CHECK(r.elapsed < std::chrono::seconds(10));
    CHECK(r.message.find("process group") != std::string::npos);
    std::ifstream in(pidfile);
    int grandchild = 0;
    in >> grandchild;
    REQUIRE(grandchild > 0);
    // The grandchild is gone (or a zombie waiting for init to reap it). SIGKILL is delivered
    // asynchronously, so give the kernel a moment.
    auto gone = [&] {
        if (::kill(grandchild, 0) != 0) return true;
        std::ifstream stat("/proc/" + std::to_string(grandchild) + "/stat");
        std::string pid, comm, state;
        stat >> pid >> comm >> state;
        return state == "Z" || state == "X" || state.empty();
    };
    bool dead = false;
    for (int i = 0; i < 200 && !dead; ++i) {
        dead = gone();
        if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(dead);
}

TEST_CASE("cancelling the awaiting coroutine kills the whole process group at once", "[rsync][subprocess]") {
    // How drivers stop a transfer early (rsync restarting at a new bandwidth share, the engine
    // stopping): the subprocess loses a race (||). The cancelled reads used to complete quietly
    // and the helper then waited for the child to exit by itself (30 s here).
    labsync::test::temp_dir dir;
    const auto pidfile = dir / "grandchild.pid";
    subprocess_options o;
    o.argv = {"sh", "-c", "sleep 30 & echo $! > '" + pidfile.string() + "'; wait"};
    asio::io_context io;
    const auto started = std::chrono::steady_clock::now();
    auto race = [&]() -> asio::awaitable<std::size_t> {
        asio::steady_timer timer(io, std::chrono::milliseconds(300));
        auto r = co_await (run_subprocess(o) || timer.async_wait(asio::use_awaitable));
        co_return r.index();
    };
    auto fut = asio::co_spawn(io, race(), asio::use_future);
    io.run();
    CHECK(fut.get() == 1);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(10));
    std::ifstream in(pidfile);
    int grandchild = 0;
    in >> grandchild;
    REQUIRE(grandchild > 0);
    CHECK(gone_soon(grandchild));
}
