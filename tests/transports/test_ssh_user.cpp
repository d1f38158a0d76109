// The sshd fixture's user, created by several test processes at once on a fresh machine: before
// the fix, two concurrent useradd calls both passed their "exists?" check and the second rewrote
// the entry with a new uid after the first caller had chowned its destinations to the old one
// (rsync then failed with "mkdir …: Permission denied", only on the very first run).
#include "process.hpp"
#include "skip.hpp"
#include "sshd_fixture.hpp"

#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace labsync::test;

TEST_CASE("ssh test user: concurrent first creations all get the user's final uid", "[ssh][setup]") {
    if (!running_as_root()) skip_test("creating users needs root");
    // A throwaway user, so the real test user is never deleted under other tests.
    const std::string name = "lsrace-" + std::to_string(::getpid());
    run_process({"userdel", "-r", name});  // a leftover of an interrupted run, if any
    struct remove_user {
        std::string name;
        ~remove_user() { run_process({"userdel", "-r", name}); }
    } guard{name};

    constexpr int processes = 4;
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::vector<pid_t> children;
    for (int i = 0; i < processes; ++i) {
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::close(fds[0]);
            try {
                const auto ids = ensure_ssh_test_user(name);
                ::dprintf(fds[1], "%u\n", ids.uid);
            } catch (const std::exception& e) {
                ::dprintf(fds[1], "error: %s\n", e.what());
            }
            ::_exit(0);
        }
        children.push_back(pid);
    }
    ::close(fds[1]);
    std::string said;
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) said.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    for (pid_t pid : children) ::waitpid(pid, nullptr, 0);

    const passwd* pw = ::getpwnam(name.c_str());
    REQUIRE(pw != nullptr);
    std::string expected;
    for (int i = 0; i < processes; ++i) expected += std::to_string(pw->pw_uid) + "\n";
    CHECK(said == expected);
}
