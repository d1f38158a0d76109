#pragma once
// A test that cannot run here (not root, a tool missing) must show as skipped in ctest's summary,
// never as passed: it exits with skip_exit_code, which every test registered by
// labsync_add_test declares as its SKIP_RETURN_CODE. ctest runs one test case per process, so
// leaving the process is leaving the test case.

#include <cstdio>
#include <cstdlib>
#include <string>

namespace labsync::test {

inline constexpr int skip_exit_code = 77;

[[noreturn]] inline void skip_test(const std::string& why) {
    std::fprintf(stdout, "SKIPPED: %s\n", why.c_str());
    std::fflush(stdout);
    std::_Exit(skip_exit_code);
}

}  // namespace labsync::test
