#pragma once
// Memory that archive checkers share for decoding ahead (see archive_checker's parallel frames):
// one budget for a whole process, e.g. every upload of a receiver. Taking never waits: a checker
// that finds the budget used up decodes in order on its own fixed buffers, so one huge upload
// can slow the others' look-ahead but never stop them.

#include <atomic>
#include <cstddef>

namespace labsync::verifier {

class check_budget {
public:
    explicit check_budget(std::size_t bytes) : limit_(bytes) {}
    check_budget(const check_budget&) = delete;
    check_budget& operator=(const check_budget&) = delete;

    // Takes `bytes` if that keeps the total within the limit.
    bool try_take(std::size_t bytes) noexcept {
        std::size_t used = used_.load(std::memory_order_relaxed);
        do {
            if (bytes > limit_ || used > limit_ - bytes) return false;
        } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
        return true;
    }
    void give_back(std::size_t bytes) noexcept { used_.fetch_sub(bytes, std::memory_order_relaxed); }

    std::size_t limit() const noexcept { return limit_; }
    std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

private:
    const std::size_t limit_;
    std::atomic<std::size_t> used_{0};
};

}  // namespace labsync::verifier
