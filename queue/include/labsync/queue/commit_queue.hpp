#pragma once
// Group commit for the job store: transitions submitted from any thread wait in a queue that the
// store's own thread drains. Each time it is free it takes EVERYTHING waiting and writes it with
// job_store::transition_all, i.e. one transaction and one fsync for all of them; what arrives
// while that commit is on disk waits for the next one. A transition's callback runs only after
// its commit returned, so a caller that resumes from it knows the transition is durable (or
// knows why it was refused) — durability is as strict as with one transaction per transition.
//
// The callbacks run on the store's thread: keep them short (post to your own executor).

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "labsync/queue/job_store.hpp"

namespace labsync::queue {

class commit_queue {
public:
    using done_fn = std::function<void(store_error)>;

    // `store` must outlive the queue. Starts the store thread.
    explicit commit_queue(job_store& store);
    // Writes what is still waiting, then joins the store thread.
    ~commit_queue();
    commit_queue(const commit_queue&) = delete;
    commit_queue& operator=(const commit_queue&) = delete;

    // Queues one transition; `done` receives its outcome once its group is committed.
    void submit(transition_request request, done_fn done);

    // Groups written so far (each one commit); for tests and the bench.
    std::uint64_t groups() const;

private:
    struct waiting {
        transition_request request;
        done_fn done;
    };
    void loop();

    job_store& store_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<waiting> pending_;
    bool stopping_ = false;
    std::uint64_t groups_ = 0;
    std::thread thread_;  // last: started once everything above exists
};

}  // namespace labsync::queue
