#include "skip.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace labsync::test {
namespace {

std::atomic<int> skips{0};

bool skips_forbidden() {
    const char* v = std::getenv("LABSYNC_TEST_NO_SKIP");
    return v != nullptr && std::string_view(v) != "" && std::string_view(v) != "0";
}

[[noreturn]] void record_skip(const std::string& reason) {
    WARN("SKIPPED: " << reason);
    skips.fetch_add(1);
    // Catch2 v2 has no SKIP; TestFailureException is what REQUIRE throws after it has reported a
    // failure, so the runner ends the test case quietly and records nothing more.
    throw Catch::TestFailureException{};
}

}  // namespace

void skip_test(const std::string& reason) {
    if (skips_forbidden()) FAIL("cannot run here, and LABSYNC_TEST_NO_SKIP is set: " << reason);
    record_skip(reason);
}

void skip_test_without_service(const std::string& service, const std::string& reason) {
    record_skip("no " + service + " on this host: " + reason);
}

int skipped_tests() noexcept {
    return skips.load();
}

bool running_as_root() noexcept {
    return ::geteuid() == 0;
}

}  // namespace labsync::test
