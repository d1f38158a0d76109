#include "labsync/receiver/metrics.hpp"

#include <fmt/format.h>

#include <array>

namespace labsync::receiver {

std::string_view metrics::method_label(std::string_view method) noexcept {
    // Labels come from a closed set: the method string is chosen by unauthenticated clients, and
    // every distinct label would be a new series held forever and rendered on every scrape.
    static constexpr std::array<std::string_view, 7> known{"GET",   "HEAD",   "PUT",    "POST",
                                                           "PATCH", "DELETE", "OPTIONS"};
    for (auto k : known)
        if (method == k) return k;
    return method == "-" ? "-" : "other";
}

void metrics::count_request(std::string_view method, int status) {
    // Status codes are 100..599 on the wire; anything else is folded into 0 for the same reason.
    if (status < 100 || status > 599) status = 0;
    std::lock_guard lock(mutex_);
    ++requests_[{std::string(method_label(method)), status}];
}

void metrics::observe_upload(double seconds) noexcept {
    std::size_t i = 0;
    while (i < bucket_bounds.size() && seconds > bucket_bounds[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    upload_count_.fetch_add(1, std::memory_order_relaxed);
    upload_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

std::string metrics::render(std::optional<std::uint64_t> store_free_bytes) const {
    std::string out;
    out += "# HELP labsync_receiver_requests_total HTTP requests answered, by method and status code.\n";
    out += "# TYPE labsync_receiver_requests_total counter\n";
    {
        std::lock_guard lock(mutex_);
        for (const auto& [key, count] : requests_) {
            out += fmt::format("labsync_receiver_requests_total{{method=\"{}\",code=\"{}\"}} {}\n", key.first,
                               key.second, count);
        }
    }
    out += "# HELP labsync_receiver_bytes_received_total Request body bytes received on PUT.\n";
    out += "# TYPE labsync_receiver_bytes_received_total counter\n";
    out += fmt::format("labsync_receiver_bytes_received_total {}\n", bytes_received_.load());
    out += "# HELP labsync_receiver_upload_duration_seconds Time from PUT headers to the final response.\n";
    out += "# TYPE labsync_receiver_upload_duration_seconds histogram\n";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bucket_bounds.size(); ++i) {
        cumulative += buckets_[i].load();
        out += fmt::format("labsync_receiver_upload_duration_seconds_bucket{{le=\"{}\"}} {}\n",
                           bucket_bounds[i], cumulative);
    }
    cumulative += buckets_.back().load();
    out += fmt::format("labsync_receiver_upload_duration_seconds_bucket{{le=\"+Inf\"}} {}\n", cumulative);
    out += fmt::format("labsync_receiver_upload_duration_seconds_sum {:.6f}\n", upload_micros_.load() / 1e6);
    out += fmt::format("labsync_receiver_upload_duration_seconds_count {}\n", upload_count_.load());
    out += "# HELP labsync_receiver_uploads_in_flight PUT bodies being received now.\n";
    out += "# TYPE labsync_receiver_uploads_in_flight gauge\n";
    out += fmt::format("labsync_receiver_uploads_in_flight {}\n", in_flight_.load());
    out +=
        "# HELP labsync_receiver_connections_refused_total Connections closed at once over "
        "--max-connections.\n";
    out += "# TYPE labsync_receiver_connections_refused_total counter\n";
    out += fmt::format("labsync_receiver_connections_refused_total {}\n", connections_refused_.load());
    out +=
        "# HELP labsync_receiver_connections_evicted_total Idle unauthenticated connections closed at "
        "--max-connections to admit a new one.\n";
    out += "# TYPE labsync_receiver_connections_evicted_total counter\n";
    out += fmt::format("labsync_receiver_connections_evicted_total {}\n", connections_evicted_.load());
    out +=
        "# HELP labsync_receiver_verifications_total Stored archives re-hashed for a verify request "
        "(GET ?verify=1).\n";
    out += "# TYPE labsync_receiver_verifications_total counter\n";
    out += fmt::format("labsync_receiver_verifications_total {}\n", verifications_.load());
    out +=
        "# HELP labsync_receiver_verify_mismatch_total Verify requests whose stored bytes no longer "
        "matched the recorded sha256 or size (answered 409 stored_bytes_mismatch).\n";
    out += "# TYPE labsync_receiver_verify_mismatch_total counter\n";
    out += fmt::format("labsync_receiver_verify_mismatch_total {}\n", verify_mismatches_.load());
    out +=
        "# HELP labsync_receiver_resumable_uploads_total Resumable uploads created, completed, "
        "cancelled (DELETE) and expired (abandoned past --upload-expiry, space released).\n";
    out += "# TYPE labsync_receiver_resumable_uploads_total counter\n";
    constexpr std::array<std::string_view, 4> events{"created", "completed", "cancelled", "expired"};
    for (std::size_t i = 0; i < events.size(); ++i)
        out += fmt::format("labsync_receiver_resumable_uploads_total{{event=\"{}\"}} {}\n", events[i],
                           upload_events_[i].load());
    if (store_free_bytes) {
        out +=
            "# HELP labsync_receiver_store_free_bytes Bytes available to the receiver on the store "
            "filesystem.\n";
        out += "# TYPE labsync_receiver_store_free_bytes gauge\n";
        out += fmt::format("labsync_receiver_store_free_bytes {}\n", *store_free_bytes);
    }
    return out;
}

}  // namespace labsync::receiver
