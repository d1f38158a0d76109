// The run-time budget: leases, re-splits and their notifications (see bandwidth_scheduler.hpp).
#include "labsync/engine/bandwidth_scheduler.hpp"

#include <algorithm>
#include <ctime>

namespace labsync::engine {

struct bandwidth_scheduler::share {
    explicit share(std::string eq, const token_bucket::steady_fn& steady)
        : equipment(std::move(eq)), bucket(steady) {}
    const std::string equipment;
    token_bucket bucket;
    std::mutex watcher_mutex;  // held while the watcher runs, so removing it waits for the call
    std::function<void(std::uint64_t)> watcher;
};

class bandwidth_scheduler::lease final : public transports::bandwidth_lease {
public:
    lease(std::shared_ptr<bandwidth_scheduler> owner, std::shared_ptr<share> s)
        : owner_(std::move(owner)), share_(std::move(s)) {}
    ~lease() override {
        on_change({});
        owner_->end(share_);
    }
    std::chrono::nanoseconds reserve(std::uint64_t bytes) override { return share_->bucket.reserve(bytes); }
    std::uint64_t rate() const override { return share_->bucket.rate(); }
    void on_change(std::function<void(std::uint64_t)> fn) override {
        std::lock_guard lock(share_->watcher_mutex);
        share_->watcher = std::move(fn);
    }

private:
    std::shared_ptr<bandwidth_scheduler> owner_;
    std::shared_ptr<share> share_;
};

class bandwidth_scheduler::equipment_limiter final : public transports::rate_limiter {
public:
    equipment_limiter(bandwidth_scheduler& owner, std::string name) : owner_(owner), name_(std::move(name)) {}
    std::unique_ptr<transports::bandwidth_lease> begin_transfer() override { return owner_.begin(name_); }

private:
    bandwidth_scheduler& owner_;
    const std::string name_;
};

bandwidth_scheduler::bandwidth_scheduler(bandwidth_timetable global,
                                         std::map<std::string, bandwidth_timetable> equipment,
                                         minute_of_day_fn minute_of_day, token_bucket::steady_fn steady)
    : global_(std::move(global)),
      equipment_(std::move(equipment)),
      minute_of_day_(minute_of_day ? std::move(minute_of_day) : minute_of_day_fn(&local_minute_of_day)),
      steady_(std::move(steady)) {
    for (const auto& [name, table] : equipment_)
        limiters_.emplace(name, std::make_unique<equipment_limiter>(*this, name));
}

bandwidth_scheduler::~bandwidth_scheduler() = default;

int bandwidth_scheduler::local_second_of_day() {
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    return (local.tm_hour * 60 + local.tm_min) * 60 + local.tm_sec;
}

int bandwidth_scheduler::local_minute_of_day() {
    return local_second_of_day() / 60;
}

transports::rate_limiter* bandwidth_scheduler::limiter(const std::string& equipment) {
    auto it = limiters_.find(equipment);
    return it == limiters_.end() ? nullptr : it->second.get();
}

std::vector<bandwidth_scheduler::notice> bandwidth_scheduler::resplit_locked() {
    const int minute = minute_of_day_();
    std::map<std::string, std::uint64_t> limits;
    for (const auto& [name, table] : equipment_) limits[name] = table.limit_at(minute);
    const bandwidth_budget budget(global_.limit_at(minute), std::move(limits));
    std::vector<std::string> running;
    running.reserve(running_.size());
    for (const auto& s : running_) running.push_back(s->equipment);
    const auto rates = budget.split(running);
    std::vector<notice> changed;
    for (std::size_t i = 0; i < running_.size(); ++i) {
        if (running_[i]->bucket.rate() == rates[i]) continue;
        running_[i]->bucket.set_rate(rates[i]);
        changed.emplace_back(running_[i], rates[i]);
    }
    return changed;
}

void bandwidth_scheduler::tell(const std::vector<notice>& notices) {
    for (const auto& [s, rate] : notices) {
        std::lock_guard lock(s->watcher_mutex);
        if (s->watcher) s->watcher(rate);
    }
}

std::unique_ptr<transports::bandwidth_lease> bandwidth_scheduler::begin(const std::string& equipment) {
    auto self = shared_from_this();  // first: a throw here must not leave a share registered
    auto s = std::make_shared<share>(equipment, steady_);
    resplit_after([&] { running_.push_back(s); });
    return std::make_unique<lease>(std::move(self), std::move(s));
}

void bandwidth_scheduler::end(const std::shared_ptr<share>& s) {
    resplit_after([&] { running_.erase(std::remove(running_.begin(), running_.end(), s), running_.end()); });
}

void bandwidth_scheduler::refresh() {
    resplit_after([] {});
}

// Changes the running set and re-splits under the mutex; watchers are told after it is released.
void bandwidth_scheduler::resplit_after(const std::function<void()>& change) {
    std::vector<notice> notices;
    {
        std::lock_guard lock(mutex_);
        change();
        notices = resplit_locked();
    }
    tell(notices);
}

int bandwidth_scheduler::seconds_until_change(int second_of_day) const {
    int next = global_.seconds_until_change(second_of_day);
    for (const auto& [name, table] : equipment_) {
        const int s = table.seconds_until_change(second_of_day);
        if (s > 0 && (next == 0 || s < next)) next = s;
    }
    return next;
}

std::vector<std::pair<std::string, std::uint64_t>> bandwidth_scheduler::shares() const {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, std::uint64_t>> out;
    for (const auto& s : running_) out.emplace_back(s->equipment, s->bucket.rate());
    return out;
}

}  // namespace labsync::engine
