// The gate's external validator is started by the one launcher (transports::run_subprocess): the
// child does not inherit what the daemon blocked or ignored, and keeps the daemon's environment.
#include "labsync/engine/external_check.hpp"

#include "temp_dir.hpp"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include <catch2/catch.hpp>

#include <string>

using namespace labsync::engine;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using labsync::test::temp_dir;

namespace {

// Reports the validator's own SigBlk and SigIgn (hex masks of /proc/self/status) as one finding.
const std::vector<std::string> report_signal_masks{
    "/bin/sh", "-c",
    R"(while read -r k v; do case "$k" in SigBlk:) b=$v;; SigIgn:) i=$v;; esac; done < /proc/self/status
printf '[{"severity":"soft","code":"masks","message":"%s %s"}]' "$b" "$i")",
    "check"};

bool has_signal(const std::string& hex_mask, int signo) {
    return (std::stoull(hex_mask, nullptr, 16) >> (signo - 1)) & 1u;
}

}  // namespace

TEST_CASE("external check: the validator starts with an empty signal mask and default dispositions",
          "[gate][external]") {
    temp_dir dir;
    fs::create_directories(dir / "run");
    // What syncd does for itself: SIGTERM blocked (it waits for it), some signal ignored.
    sigset_t term, before;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &term, &before) == 0);
    struct sigaction ignore {
    }, previous{};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    REQUIRE(::sigaction(SIGUSR2, &ignore, &previous) == 0);
    const auto f = run_external_check(report_signal_masks, dir / "run", 10s);
    ::sigaction(SIGUSR2, &previous, nullptr);
    ::pthread_sigmask(SIG_SETMASK, &before, nullptr);

    REQUIRE(f.size() == 1);
    REQUIRE(f.front().code == "external:masks");
    INFO("validator's SigBlk SigIgn: " << f.front().message);
    const auto space = f.front().message.find(' ');
    REQUIRE(space != std::string::npos);
    const std::string blocked = f.front().message.substr(0, space);
    const std::string ignored = f.front().message.substr(space + 1);
    CHECK_FALSE(has_signal(blocked, SIGTERM));
    CHECK_FALSE(has_signal(ignored, SIGUSR2));
}

TEST_CASE("external check: the validator keeps the daemon's environment", "[gate][external]") {
    temp_dir dir;
    fs::create_directories(dir / "run");
    REQUIRE(::setenv("LABSYNC_TEST_VALIDATOR_SETTING", "site-42", 1) == 0);
    const auto f = run_external_check(
        {"/bin/sh", "-c",
         R"(printf '[{"severity":"soft","code":"env","message":"%s"}]' "$LABSYNC_TEST_VALIDATOR_SETTING")",
         "check"},
        dir / "run", 10s);
    ::unsetenv("LABSYNC_TEST_VALIDATOR_SETTING");
    REQUIRE(f.size() == 1);
    CHECK(f.front().code == "external:env");
    CHECK(f.front().message == "site-42");
}

TEST_CASE("external check: stdout beyond 1 MiB is bad output (or a failure with a bad exit)",
          "[gate][external]") {
    external_run r;
    r.started = true;
    r.exit_code = 0;
    r.out = "[]";
    r.out_truncated = true;
    auto f = interpret_external_run({"/opt/check"}, r, 5s);
    REQUIRE(f.size() == 1);
    CHECK(f.front().code == "external_bad_output");
    CHECK_THAT(f.front().message, Catch::Contains("more than"));
    r.exit_code = 3;
    CHECK(interpret_external_run({"/opt/check"}, r, 5s).front().code == "external_failed");

    temp_dir dir;
    fs::create_directories(dir / "run");
    // 2 MiB of blanks after a valid answer: only a cut-off reading could take it for "[]".
    f = run_external_check({"/bin/sh", "-c", "echo '[]'; head -c 2097152 /dev/zero | tr '\\0' ' '", "check"},
                           dir / "run", 10s);
    REQUIRE(f.size() == 1);
    CHECK(f.front().code == "external_bad_output");
}
