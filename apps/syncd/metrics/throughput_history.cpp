// See throughput_history.hpp.
#include "metrics/throughput_history.hpp"

namespace labsync::apps {

std::int64_t throughput_history::minute_of(clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::minutes>(t.time_since_epoch()).count();
}

void throughput_history::add_locked(std::uint64_t bytes, std::int64_t minute) {
    // The slot of a minute is reused an hour later: a stale count is replaced, not added to.
    auto slot = static_cast<std::size_t>(((minute % minutes) + minutes) % minutes);
    if (minute_[slot] != minute) {
        minute_[slot] = minute;
        bytes_[slot] = 0;
    }
    bytes_[slot] += bytes;
}

void throughput_history::add(std::uint64_t bytes, clock::time_point now) {
    std::lock_guard lock(mutex_);
    add_locked(bytes, minute_of(now));
}

void throughput_history::on_upload_progress(std::int64_t job_id, std::uint64_t done, clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = last_done_.try_emplace(job_id, 0);
    std::uint64_t before = done < it->second ? 0 : it->second;
    it->second = done;
    if (done > before) add_locked(done - before, minute_of(now));
}

void throughput_history::forget(std::int64_t job_id) {
    std::lock_guard lock(mutex_);
    last_done_.erase(job_id);
}

std::vector<std::uint64_t> throughput_history::per_minute(clock::time_point now) const {
    std::lock_guard lock(mutex_);
    const std::int64_t current = minute_of(now);
    std::vector<std::uint64_t> out;
    out.reserve(minutes);
    for (std::int64_t m = current - static_cast<std::int64_t>(minutes) + 1; m <= current; ++m) {
        auto slot = static_cast<std::size_t>(((m % minutes) + minutes) % minutes);
        out.push_back(minute_[slot] == m ? bytes_[slot] : 0);
    }
    return out;
}

}  // namespace labsync::apps
