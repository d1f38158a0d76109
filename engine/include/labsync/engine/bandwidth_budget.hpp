#pragma once
// The split of the bandwidth budget among the transfers running at one moment (SPEC §10): one
// budget for every transfer of every transport. Pure: the caller reads the timetables and knows
// which transfers run; this class only decides each transfer's rate.
//
// Rule (max-min fair, integers, all rates in bytes per second, 0 = unlimited):
//  1. An equipment's limit is shared equally among its running transfers (the remainder of the
//     division goes one byte each to the first transfers), so they never exceed it together.
//  2. The global limit is water-filled over those caps: a transfer whose cap is below the fair
//     share keeps its cap, and what it leaves is shared among the others. The rates add up to
//     min(global, sum of caps), and no transfer gets less than another unless its cap says so.
//  3. A limited rate is never 0 (that would read as "unlimited"): when a limit is smaller than
//     the number of transfers sharing it, each gets 1 byte/s (the only case where the sum may
//     exceed the limit, by fewer bytes than there are transfers).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace labsync::engine {

class bandwidth_budget {
public:
    // global: bytes/s for everything (0 = unlimited); equipment: bytes/s per equipment name
    // (missing or 0 = unlimited).
    bandwidth_budget(std::uint64_t global, std::map<std::string, std::uint64_t> equipment);

    // running[i] is the equipment of transfer i; the result's [i] is its rate (0 = unlimited).
    std::vector<std::uint64_t> split(const std::vector<std::string>& running) const;

    std::uint64_t equipment_limit(const std::string& name) const;

private:
    std::uint64_t global_;
    std::map<std::string, std::uint64_t> equipment_;
};

}  // namespace labsync::engine
