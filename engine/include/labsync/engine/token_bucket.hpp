#pragma once
// A token bucket that throttles byte streams to the rate a bandwidth_timetable allows right now.
// One global bucket is shared by every worker; each equipment has its own bucket chained to the
// global one, so a stream waits for whichever of the two is slower. Thread-safe (a mutex), since
// drivers may reserve from the I/O thread and from pool threads.
//
// Reservation is by debt: reserve(n) takes n tokens at once (the balance may go negative) and
// returns how long the caller must wait for the balance to be paid back. Concurrent callers thus
// queue up fairly without a waiting list, and the long-run rate never exceeds the limit.

#include "labsync/engine/bandwidth_timetable.hpp"
#include "labsync/transports/transport.hpp"

#include <chrono>
#include <functional>
#include <mutex>

namespace labsync::engine {

class token_bucket final : public transports::rate_limiter {
public:
    using steady_fn = std::function<std::chrono::steady_clock::time_point()>;
    using minute_of_day_fn = std::function<int()>;  // local wall-clock minute, 0..1439

    // burst: how much may be sent at once after an idle period (at least 64 KiB).
    token_bucket(bandwidth_timetable timetable, token_bucket* parent = nullptr, steady_fn steady = {},
                 minute_of_day_fn minute_of_day = {},
                 std::chrono::milliseconds burst = std::chrono::milliseconds(250));

    std::chrono::nanoseconds reserve(std::uint64_t bytes) override;
    // min(own limit, parent's limit), 0 = unlimited; what a subprocess gets as --bwlimit.
    std::uint64_t current_limit() const override;

    // The local minute of day from the system clock (localtime_r).
    static int local_minute_of_day();

private:
    std::chrono::nanoseconds reserve_own(std::uint64_t bytes);

    bandwidth_timetable timetable_;
    token_bucket* parent_;
    steady_fn steady_;
    minute_of_day_fn minute_of_day_;
    std::chrono::milliseconds burst_;
    mutable std::mutex mutex_;
    double tokens_ = 0;  // may be negative (debt)
    std::uint64_t rate_ = 0;
    std::chrono::steady_clock::time_point last_{};
    bool started_ = false;
};

}  // namespace labsync::engine
