#pragma once
// A token bucket that paces one byte stream at a rate the bandwidth scheduler sets (the share of
// the budget its transfer holds right now, see bandwidth_budget.hpp). Thread-safe (a mutex): the
// scheduler sets the rate from whichever thread re-splits the budget while the stream reserves.
//
// Reservation is by debt: reserve(n) takes n tokens at once (the balance may go negative) and
// returns how long the caller must wait for the balance to be paid back, so the long-run rate
// never exceeds the limit.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

namespace labsync::engine {

class token_bucket {
public:
    using steady_fn = std::function<std::chrono::steady_clock::time_point()>;

    // burst: how much may be sent at once after an idle period (at least 64 KiB).
    explicit token_bucket(steady_fn steady = {},
                          std::chrono::milliseconds burst = std::chrono::milliseconds(250));

    // 0 = unlimited. A new rate keeps the debt (a stream that ran ahead still pays it back).
    void set_rate(std::uint64_t bytes_per_second);
    std::uint64_t rate() const;
    std::chrono::nanoseconds reserve(std::uint64_t bytes);

private:
    double capacity_at(std::uint64_t rate) const noexcept;

    steady_fn steady_;
    std::chrono::milliseconds burst_;
    mutable std::mutex mutex_;
    double tokens_ = 0;  // may be negative (debt)
    std::uint64_t rate_ = 0;
    std::chrono::steady_clock::time_point last_{};
    bool started_ = false;
};

}  // namespace labsync::engine
