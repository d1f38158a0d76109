// The store thread of commit_queue.hpp: take everything waiting, one transition_all, then the
// callbacks in submission order.

#include "labsync/queue/commit_queue.hpp"

#include <utility>
#include <vector>

namespace labsync::queue {

commit_queue::commit_queue(job_store& store) : store_(store), thread_([this] { loop(); }) {}

commit_queue::~commit_queue() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void commit_queue::submit(transition_request request, done_fn done) {
    {
        std::lock_guard lock(mutex_);
        pending_.push_back({std::move(request), std::move(done)});
    }
    wake_.notify_one();
}

std::uint64_t commit_queue::groups() const {
    std::lock_guard lock(mutex_);
    return groups_;
}

void commit_queue::loop() {
    for (;;) {
        std::deque<waiting> group;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
            if (pending_.empty()) return;  // stopping and nothing left to write
            group.swap(pending_);
            ++groups_;
        }
        std::vector<transition_request> requests;
        requests.reserve(group.size());
        for (auto& w : group) requests.push_back(std::move(w.request));
        auto outcomes = store_.transition_all(requests);
        for (std::size_t i = 0; i < group.size(); ++i)
            if (group[i].done) group[i].done(std::move(outcomes[i]));
    }
}

}  // namespace labsync::queue
