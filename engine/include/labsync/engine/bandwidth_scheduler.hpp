#pragma once
// The bandwidth budget at run time (SPEC §10): the timetables, the set of running transfers of
// every transport and each one's share. A driver takes a lease (transports::bandwidth_lease) from
// its equipment's limiter() for each transfer that moves run data; taking and dropping a lease,
// and refresh() when a timetable may have changed, re-split the budget (bandwidth_budget) and tell
// every transfer whose share changed: http_put paces its stream with the lease's token bucket,
// rclone sets the new rate over its remote control, rsync restarts from its partial state.
//
// Thread-safe (one mutex). Watchers are called after the mutex is released. Create it with
// std::make_shared: a lease keeps the scheduler alive, so a coroutine frame destroyed late (with
// its io_context) still ends its transfer safely.

#include "labsync/engine/bandwidth_budget.hpp"
#include "labsync/engine/bandwidth_timetable.hpp"
#include "labsync/engine/token_bucket.hpp"
#include "labsync/transports/transport.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace labsync::engine {

class bandwidth_scheduler : public std::enable_shared_from_this<bandwidth_scheduler> {
public:
    using minute_of_day_fn = std::function<int()>;  // local wall-clock minute, 0..1439

    bandwidth_scheduler(bandwidth_timetable global, std::map<std::string, bandwidth_timetable> equipment,
                        minute_of_day_fn minute_of_day = {}, token_bucket::steady_fn steady = {});
    ~bandwidth_scheduler();
    bandwidth_scheduler(const bandwidth_scheduler&) = delete;
    bandwidth_scheduler& operator=(const bandwidth_scheduler&) = delete;

    // What push_request::limiter points to for this equipment; nullptr for an unknown name.
    transports::rate_limiter* limiter(const std::string& equipment);

    // Reads the timetables at the current minute; re-splits when a limit changed.
    void refresh();
    // Seconds from `second_of_day` until some timetable may change next; 0 = never.
    int seconds_until_change(int second_of_day) const;

    // The running transfers as (equipment, rate), in start order (for tests and diagnostics).
    std::vector<std::pair<std::string, std::uint64_t>> shares() const;

    // The local minute / second of day from the system clock (localtime_r).
    static int local_minute_of_day();
    static int local_second_of_day();

private:
    struct share;
    class lease;
    class equipment_limiter;
    using notice = std::pair<std::shared_ptr<share>, std::uint64_t>;

    std::unique_ptr<transports::bandwidth_lease> begin(const std::string& equipment);
    void end(const std::shared_ptr<share>& s);
    // Under mutex_: re-reads the limits, splits, sets every bucket; returns whom to tell.
    std::vector<notice> resplit_locked();
    void resplit_after(const std::function<void()>& change);
    static void tell(const std::vector<notice>& notices);

    bandwidth_timetable global_;
    std::map<std::string, bandwidth_timetable> equipment_;
    minute_of_day_fn minute_of_day_;
    token_bucket::steady_fn steady_;
    std::map<std::string, std::unique_ptr<equipment_limiter>> limiters_;
    mutable std::mutex mutex_;
    std::vector<std::shared_ptr<share>> running_;
};

}  // namespace labsync::engine
