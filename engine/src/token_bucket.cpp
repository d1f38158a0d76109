#include "labsync/engine/token_bucket.hpp"

#include <algorithm>
#include <ctime>

namespace labsync::engine {

token_bucket::token_bucket(bandwidth_timetable timetable, token_bucket* parent, steady_fn steady,
                           minute_of_day_fn minute_of_day, std::chrono::milliseconds burst)
    : timetable_(std::move(timetable)),
      parent_(parent),
      steady_(steady ? std::move(steady) : steady_fn([] { return std::chrono::steady_clock::now(); })),
      minute_of_day_(minute_of_day ? std::move(minute_of_day) : minute_of_day_fn(&local_minute_of_day)),
      burst_(burst) {}

int token_bucket::local_minute_of_day() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    return local.tm_hour * 60 + local.tm_min;
}

std::chrono::nanoseconds token_bucket::reserve_own(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    const std::uint64_t rate = timetable_.limit_at(minute_of_day_());
    const auto now = steady_();
    if (rate == 0) {
        // Unlimited now: forget any debt so a later limited period starts fresh.
        rate_ = 0;
        tokens_ = 0;
        started_ = false;
        return std::chrono::nanoseconds(0);
    }
    const double capacity =
        std::max(65536.0, static_cast<double>(rate) * static_cast<double>(burst_.count()) / 1000.0);
    if (!started_ || rate != rate_) {
        // First use, or the timetable moved to another rate: start with a full burst, keeping debt.
        tokens_ = started_ ? std::min(tokens_, capacity) : capacity;
        rate_ = rate;
        last_ = now;
        started_ = true;
    }
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) tokens_ = std::min(capacity, tokens_ + elapsed * static_cast<double>(rate));
    last_ = now;
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(-tokens_ / static_cast<double>(rate) * 1e9));
}

std::chrono::nanoseconds token_bucket::reserve(std::uint64_t bytes) {
    auto wait = reserve_own(bytes);
    if (parent_) wait = std::max(wait, parent_->reserve(bytes));
    return wait;
}

std::uint64_t token_bucket::current_limit() const {
    std::uint64_t own = timetable_.limit_at(minute_of_day_());
    if (parent_) {
        const std::uint64_t p = parent_->current_limit();
        if (own == 0 || (p != 0 && p < own)) own = p;
    }
    return own;
}

}  // namespace labsync::engine
