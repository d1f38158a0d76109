#pragma once
// A bounded hand-off of filled buffers from the archiver's reading thread (read + member hash)
// to its compressing thread (zstd + archive hash + write), like a pipe between two processes
// but without copying: the buffers themselves travel. Private to the verifier module.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace labsync::verifier::detail {

class chunk_pipe {
public:
    chunk_pipe(std::size_t slots, std::size_t capacity) : capacity_(capacity) {
        for (std::size_t i = 0; i < slots; ++i) {
            storage_.emplace_back(new std::byte[capacity]);
            empty_.push_back(storage_.back().get());
        }
    }

    std::size_t capacity() const noexcept { return capacity_; }

    // Producer: an empty buffer, waiting for one; nullptr once the consumer cancelled.
    std::byte* acquire() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return cancelled_ || !empty_.empty(); });
        if (cancelled_) return nullptr;
        std::byte* p = empty_.front();
        empty_.pop_front();
        return p;
    }
    // Producer: hands over `size` bytes of `p`.
    void submit(std::byte* p, std::size_t size) {
        std::lock_guard lock(mutex_);
        full_.emplace_back(p, size);
        cv_.notify_all();
    }
    // Producer: no more buffers (after success or an error of its own).
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
        cv_.notify_all();
    }

    // Consumer: the next filled buffer; false when the producer closed and all were taken.
    bool next(std::byte*& p, std::size_t& size) {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return closed_ || !full_.empty(); });
        if (full_.empty()) return false;
        std::tie(p, size) = full_.front();
        full_.pop_front();
        return true;
    }
    void release(std::byte* p) {
        std::lock_guard lock(mutex_);
        empty_.push_back(p);
        cv_.notify_all();
    }
    // Consumer: stop the producer (its acquire() returns nullptr from now on).
    void cancel() {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
        cv_.notify_all();
    }

private:
    std::size_t capacity_;
    std::vector<std::unique_ptr<std::byte[]>> storage_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::byte*> empty_;
    std::deque<std::pair<std::byte*, std::size_t>> full_;
    bool closed_ = false;
    bool cancelled_ = false;
};

}  // namespace labsync::verifier::detail
