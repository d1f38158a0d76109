// config_problem.hpp and the rule shapes of config_rules.hpp.
#include "labsync/transports/config_problem.hpp"

#include "config_rules.hpp"

#include <fmt/format.h>

namespace labsync::transports {

std::string describe(const std::vector<config_problem>& problems) {
    std::string out;
    for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p.key + ": " + p.message;
    return out;
}

namespace detail {

void require_at_least(std::vector<config_problem>& out, std::string_view key, std::chrono::milliseconds value,
                      std::chrono::milliseconds min) {
    if (value >= min) return;
    const std::string bound =
        min.count() % 1000 == 0 ? fmt::format("{}s", min.count() / 1000) : fmt::format("{}ms", min.count());
    out.push_back({std::string(key),
                   min.count() == 0 ? "must not be negative (0 = none)" : "must be at least " + bound});
}

}  // namespace detail
}  // namespace labsync::transports
