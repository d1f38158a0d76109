#pragma once
// `syncd list --since T`: T is a span back from now ("90m", "2h", "1d", parsed like the config's
// durations) or a UTC date or time ("2026-12-01", "2026-12-01T22:00:00Z", "2026-12-01 22:00").
// Pure; part of syncd_core so that it is unit-tested.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::apps {

std::optional<std::chrono::system_clock::time_point> parse_since(std::string_view text,
                                                                 std::chrono::system_clock::time_point now,
                                                                 std::string& why);

}  // namespace labsync::apps
