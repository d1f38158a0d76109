#pragma once
// The receiver's counters and their Prometheus text rendering (GET /metrics). Updated from every
// I/O thread, so plain atomics; the per-status map takes a mutex (one increment per request).

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::receiver {

class metrics {
public:
    // `method` is mapped to a closed set of labels (unknown → `other`).
    void count_request(std::string_view method, int status);
    static std::string_view method_label(std::string_view method) noexcept;
    void add_bytes_received(std::uint64_t bytes) noexcept {
        bytes_received_.fetch_add(bytes, std::memory_order_relaxed);
    }
    void observe_upload(double seconds) noexcept;
    void upload_started() noexcept { in_flight_.fetch_add(1, std::memory_order_relaxed); }
    void upload_finished() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    void connection_refused() noexcept { connections_refused_.fetch_add(1, std::memory_order_relaxed); }
    void connection_evicted() noexcept { connections_evicted_.fetch_add(1, std::memory_order_relaxed); }
    // One verify request that re-hashed a stored archive; `mismatch` when its bytes no longer
    // matched the sidecar.
    void count_verify(bool mismatch) noexcept {
        verifications_.fetch_add(1, std::memory_order_relaxed);
        if (mismatch) verify_mismatches_.fetch_add(1, std::memory_order_relaxed);
    }

    // Resumable uploads (docs/protocol.md "Resumable uploads"), by what happened to them.
    enum class upload_event { created, completed, cancelled, expired };
    void count_upload_event(upload_event e) noexcept {
        upload_events_[static_cast<std::size_t>(e)].fetch_add(1, std::memory_order_relaxed);
    }

    // `store_free_bytes` is sampled by the caller (statvfs) at scrape time.
    std::string render(std::optional<std::uint64_t> store_free_bytes) const;

    static constexpr std::array<double, 10> bucket_bounds{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120};

private:
    mutable std::mutex mutex_;
    std::map<std::pair<std::string, int>, std::uint64_t> requests_;
    std::atomic<std::uint64_t> bytes_received_{0};
    std::atomic<std::int64_t> in_flight_{0};
    std::atomic<std::uint64_t> connections_refused_{0};
    std::atomic<std::uint64_t> connections_evicted_{0};
    std::atomic<std::uint64_t> verifications_{0};
    std::atomic<std::uint64_t> verify_mismatches_{0};
    std::array<std::atomic<std::uint64_t>, bucket_bounds.size() + 1> buckets_{};  // last: +Inf
    std::atomic<std::uint64_t> upload_count_{0};
    std::atomic<std::uint64_t> upload_micros_{0};
    std::array<std::atomic<std::uint64_t>, 4> upload_events_{};
};

}  // namespace labsync::receiver
