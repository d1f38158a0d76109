#pragma once
// The shapes of rule the drivers' validate() functions share: a required setting, a lower bound on
// a duration. Private to transports/src.

#include "labsync/transports/config_problem.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::transports::detail {

// Adds "KEY is required (HINT)" when `value` is empty.
template <class Text>
void require(std::vector<config_problem>& out, std::string_view key, const Text& value,
             std::string_view hint) {
    if (value.empty()) out.push_back({std::string(key), "is required (" + std::string(hint) + ")"});
}

// Adds "must be at least MIN" (MIN written like "100ms" or "1s") when `value` is below `min`.
void require_at_least(std::vector<config_problem>& out, std::string_view key, std::chrono::milliseconds value,
                      std::chrono::milliseconds min);

}  // namespace labsync::transports::detail
