#pragma once
// Bytes uploaded per minute over the last hour, for the status page's chart. Fed from the
// engine's upload progress (io thread), read by page requests (handler pool): thread-safe.
// Memory is bounded: one counter per minute of the last hour, and the last reported byte count
// of each job that is uploading now (forget() drops it when the job leaves running).
//
// A job's first report counts from 0 (small uploads report only their end); a report lower than
// the previous one is a new attempt and counts from 0 again.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace labsync::apps {

class throughput_history {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::size_t minutes = 60;

    // `done` bytes of job_id's upload so far.
    void on_upload_progress(std::int64_t job_id, std::uint64_t done, clock::time_point now);
    void forget(std::int64_t job_id);
    // Adds bytes to the minute of `now` (minutes older than an hour are dropped).
    void add(std::uint64_t bytes, clock::time_point now);
    // Bytes per minute, oldest first; the last entry is the minute of `now` (still filling).
    std::vector<std::uint64_t> per_minute(clock::time_point now) const;

private:
    static std::int64_t minute_of(clock::time_point t);
    void add_locked(std::uint64_t bytes, std::int64_t minute);

    mutable std::mutex mutex_;
    std::array<std::uint64_t, minutes> bytes_{};
    std::array<std::int64_t, minutes> minute_{};  // which minute each slot holds
    std::map<std::int64_t, std::uint64_t> last_done_;
};

}  // namespace labsync::apps
