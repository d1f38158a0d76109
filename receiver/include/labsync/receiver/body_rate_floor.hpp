#pragma once
// The slowest body the receiver keeps a connection (and its space reservation) for: over every
// window of --body-timeout, at least --min-body-rate bytes per second must arrive. The per-read
// timeout alone lets a client keep an upload alive forever with one byte per read. Pure: the
// caller passes the clock.

#include <chrono>
#include <cstdint>

namespace labsync::receiver {

class body_rate_floor {
public:
    using clock = std::chrono::steady_clock;

    // `min_bytes_per_second` 0 disables the floor.
    body_rate_floor(std::uint64_t min_bytes_per_second, std::chrono::milliseconds window,
                    clock::time_point start)
        : min_(min_bytes_per_second), window_(window), checkpoint_(start) {}

    // Records `n` bytes that arrived at `now`. False when the window that just ended moved fewer
    // than min × its length: the caller closes the connection.
    bool on_bytes(clock::time_point now, std::uint64_t n) noexcept {
        total_ += n;
        if (min_ == 0 || now - checkpoint_ < window_) return true;
        auto elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - checkpoint_).count();
        auto needed = min_ * static_cast<std::uint64_t>(elapsed_ms) / 1000;
        if (total_ - at_checkpoint_ < needed) return false;
        checkpoint_ = now;
        at_checkpoint_ = total_;
        return true;
    }

private:
    std::uint64_t min_;
    std::chrono::milliseconds window_;
    clock::time_point checkpoint_;
    std::uint64_t total_ = 0;
    std::uint64_t at_checkpoint_ = 0;
};

}  // namespace labsync::receiver
