#pragma once
// A bounded hand-off of decompressed chunks from the thread that decompresses (the feeder, the
// caller of archive_checker::feed) to a worker thread that walks the tar stream and hashes the
// members. A fixed set of equal buffers is recycled: memory is `slots × slot_size` whatever the
// archive, and the feeder waits while every buffer is in flight. Chunks are consumed in the order
// pushed. Private to the verifier module; driven by archive_checker.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace labsync::verifier::detail {

class decoded_pipeline {
public:
    // consume(data, size) runs on the worker; false means it failed: later chunks are dropped.
    using consumer = std::function<bool(const std::byte*, std::size_t)>;

    decoded_pipeline(std::size_t slots, std::size_t slot_size, consumer consume)
        : slot_size_(slot_size), consume_(std::move(consume)) {
        for (std::size_t i = 0; i < slots; ++i) {
            buffers_.emplace_back(new std::byte[slot_size]);
            free_.push_back(i);
        }
        worker_ = std::thread([this] { run(); });
    }
    ~decoded_pipeline() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        ready_cv_.notify_all();
        worker_.join();
    }
    decoded_pipeline(const decoded_pipeline&) = delete;
    decoded_pipeline& operator=(const decoded_pipeline&) = delete;

    std::size_t slot_size() const noexcept { return slot_size_; }

    // Feeder: a free buffer of slot_size() bytes, waiting while every one is in flight; nullptr
    // once the consumer has failed. The buffer belongs to the feeder until push().
    std::byte* acquire() {
        std::unique_lock lock(mutex_);
        free_cv_.wait(lock, [&] { return !free_.empty() || failed_; });
        if (failed_) return nullptr;
        held_ = free_.front();
        free_.pop_front();
        return buffers_[held_].get();
    }
    // Feeder: hands the first n bytes of the acquired buffer to the worker (n = 0 returns it).
    void push(std::size_t n) {
        {
            std::lock_guard lock(mutex_);
            if (n == 0 || failed_) {
                free_.push_back(held_);
                return;
            }
            ready_.emplace_back(held_, n);
            ++pending_;
        }
        ready_cv_.notify_one();
    }
    // Without waiting: has the consumer failed yet?
    bool failed() {
        std::lock_guard lock(mutex_);
        return failed_;
    }
    // Feeder: waits until every pushed chunk is consumed (or dropped after a failure); true when
    // the consumer has not failed. Rethrows what the consumer threw.
    bool drain() {
        std::unique_lock lock(mutex_);
        free_cv_.wait(lock, [&] { return pending_ == 0; });
        if (thrown_) std::rethrow_exception(std::exchange(thrown_, nullptr));
        return !failed_;
    }

private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            ready_cv_.wait(lock, [&] { return stop_ || !ready_.empty(); });
            if (ready_.empty()) return;  // stopping, nothing left
            auto [slot, n] = ready_.front();
            ready_.pop_front();
            bool skip = failed_;
            lock.unlock();
            bool ok = true;
            if (!skip) {
                try {
                    ok = consume_(buffers_[slot].get(), n);
                } catch (...) {
                    ok = false;
                    lock.lock();
                    thrown_ = std::current_exception();
                    lock.unlock();
                }
            }
            lock.lock();
            if (!ok) failed_ = true;
            free_.push_back(slot);
            --pending_;
            free_cv_.notify_all();
        }
    }

    std::size_t slot_size_;
    consumer consume_;
    std::vector<std::unique_ptr<std::byte[]>> buffers_;
    std::mutex mutex_;
    std::condition_variable free_cv_;   // feeder waits: a free buffer, a failure, or drained
    std::condition_variable ready_cv_;  // worker waits: a chunk or stop
    std::deque<std::size_t> free_;
    std::deque<std::pair<std::size_t, std::size_t>> ready_;  // (slot, bytes)
    std::size_t held_ = 0;                                   // the slot the feeder acquired
    std::size_t pending_ = 0;                                // pushed, not yet consumed
    bool failed_ = false;
    bool stop_ = false;
    std::exception_ptr thrown_;
    std::thread worker_;  // last: started once everything above exists
};

}  // namespace labsync::verifier::detail
