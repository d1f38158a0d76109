#pragma once
// Honest skips. A test that cannot run here (not root, no strace, no tmpfs mount, no mknod) calls
// skip_test(why): the test case stops there without a failure, the executable's main returns
// skip_exit_code when nothing failed, and ctest (SKIP_RETURN_CODE, set for every test in
// tests/CMakeLists.txt) counts it as "Skipped", never as "Passed".
//
// LABSYNC_TEST_NO_SKIP=1 in the environment turns every skip into a failure: CI runs as root with
// strace installed, so there every such test must run. The one exception is a system service that
// a test cannot start for itself and CI machines (containers) do not run, journald:
// skip_test_without_service() stays a skip there too, and ctest still counts it as Skipped.

#include <string>

namespace labsync::test {

inline constexpr int skip_exit_code = 77;

// Reports `reason`, records the skip and aborts the running test case (usable from helpers and
// fixtures too, not only from a TEST_CASE body).
[[noreturn]] void skip_test(const std::string& reason);
// The same, also under LABSYNC_TEST_NO_SKIP: the host does not run `service`.
[[noreturn]] void skip_test_without_service(const std::string& service, const std::string& reason);

// How many skips this process recorded (read by tests/main.cpp).
int skipped_tests() noexcept;

// True when the process runs with root's file-permission powers (euid 0).
bool running_as_root() noexcept;

}  // namespace labsync::test
