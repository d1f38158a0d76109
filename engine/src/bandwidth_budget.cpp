// The budget split (see bandwidth_budget.hpp): equipment caps, then water-filling of the global
// limit over them.
#include "labsync/engine/bandwidth_budget.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

namespace labsync::engine {

bandwidth_budget::bandwidth_budget(std::uint64_t global, std::map<std::string, std::uint64_t> equipment)
    : global_(global), equipment_(std::move(equipment)) {}

std::uint64_t bandwidth_budget::equipment_limit(const std::string& name) const {
    auto it = equipment_.find(name);
    return it == equipment_.end() ? 0 : it->second;
}

std::vector<std::uint64_t> bandwidth_budget::split(const std::vector<std::string>& running) const {
    constexpr auto unlimited = std::numeric_limits<std::uint64_t>::max();
    const std::size_t n = running.size();
    std::vector<std::uint64_t> cap(n, unlimited);
    std::map<std::string, std::vector<std::size_t>> by_equipment;
    for (std::size_t i = 0; i < n; ++i) by_equipment[running[i]].push_back(i);
    for (const auto& [name, members] : by_equipment) {
        const std::uint64_t limit = equipment_limit(name);
        if (limit == 0) continue;
        const std::uint64_t k = members.size();
        for (std::size_t j = 0; j < members.size(); ++j)
            cap[members[j]] = std::max<std::uint64_t>(1, limit / k + (j < limit % k ? 1 : 0));
    }
    if (global_ == 0) {
        for (auto& c : cap)
            if (c == unlimited) c = 0;
        return cap;
    }
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return cap[a] < cap[b]; });
    std::vector<std::uint64_t> rate(n, 0);
    std::uint64_t remaining = global_;
    for (std::size_t pos = 0; pos < n; ++pos) {
        const std::uint64_t left = n - pos;
        const std::uint64_t fair = remaining / left;
        const std::size_t i = order[pos];
        if (cap[i] <= fair) {
            rate[i] = cap[i];
            remaining -= cap[i];
            continue;
        }
        // Every transfer from here on is capped above the fair share (sorted): share equally.
        const std::uint64_t extra = remaining % left;
        for (std::size_t q = pos; q < n; ++q)
            rate[order[q]] = std::max<std::uint64_t>(1, fair + (q - pos < extra ? 1 : 0));
        break;
    }
    return rate;
}

}  // namespace labsync::engine
