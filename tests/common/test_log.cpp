// The common logging interface: level names are what syncd's log lines and JSON carry.
#include "labsync/common/log.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace labsync::common;

TEST_CASE("log levels have stable names and an injected log_fn receives them", "[common][unit]") {
    CHECK(to_string(log_level::debug) == "debug");
    CHECK(to_string(log_level::info) == "info");
    CHECK(to_string(log_level::warning) == "warning");
    CHECK(to_string(log_level::error) == "error");
    std::vector<std::pair<log_level, std::string>> lines;
    log_fn log = [&](log_level level, std::string_view text) { lines.emplace_back(level, text); };
    log(log_level::warning, "disk low");
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].first == log_level::warning);
    CHECK(lines[0].second == "disk low");
}
