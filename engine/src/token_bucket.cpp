#include "labsync/engine/token_bucket.hpp"

#include <algorithm>

namespace labsync::engine {

token_bucket::token_bucket(steady_fn steady, std::chrono::milliseconds burst)
    : steady_(steady ? std::move(steady) : steady_fn([] { return std::chrono::steady_clock::now(); })),
      burst_(burst) {}

// The burst a bucket may hold at `rate`: `burst_` worth of it, at least 64 KiB.
double token_bucket::capacity_at(std::uint64_t rate) const noexcept {
    return std::max(65536.0, static_cast<double>(rate) * static_cast<double>(burst_.count()) / 1000.0);
}

void token_bucket::set_rate(std::uint64_t bytes_per_second) {
    std::lock_guard lock(mutex_);
    if (bytes_per_second == rate_) return;
    if (bytes_per_second == 0) {
        // Unlimited now: forget any debt so a later limited period starts fresh.
        started_ = false;
        tokens_ = 0;
    } else if (started_ && rate_ != 0) {
        // Settle what the old rate earned so far, then continue at the new one.
        const auto now = steady_();
        tokens_ += std::chrono::duration<double>(now - last_).count() * static_cast<double>(rate_);
        last_ = now;
        tokens_ = std::min(tokens_, capacity_at(bytes_per_second));
    }
    rate_ = bytes_per_second;
}

std::uint64_t token_bucket::rate() const {
    std::lock_guard lock(mutex_);
    return rate_;
}

std::chrono::nanoseconds token_bucket::reserve(std::uint64_t bytes) {
    std::lock_guard lock(mutex_);
    if (rate_ == 0) return std::chrono::nanoseconds(0);
    const auto now = steady_();
    const double capacity = capacity_at(rate_);
    if (!started_) {
        tokens_ = capacity;  // first use: a full burst
        last_ = now;
        started_ = true;
    }
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    if (elapsed > 0) tokens_ = std::min(capacity, tokens_ + elapsed * static_cast<double>(rate_));
    last_ = now;
    tokens_ -= static_cast<double>(bytes);
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(-tokens_ / static_cast<double>(rate_) * 1e9));
}

}  // namespace labsync::engine
