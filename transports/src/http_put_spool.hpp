#pragma once
// The memory spool of a streaming upload (docs/architecture.md "http_put data path"): the packer
// thread appends the compressed archive, the upload coroutine sends PATCH bodies straight from it
// and drops bytes once the receiver acknowledged an offset past them. Bounded: append() blocks
// while `capacity` bytes are held (back-pressure on the packer), until release() or cancel().
// Bytes below `skip` (already at the receiver: a resume after a sender restart) are counted and
// dropped at once. Plain header: used by http_put.cpp only.

#include "labsync/transports/http_put_outbox.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <system_error>

namespace labsync::transports::detail {

class upload_spool {
public:
    static constexpr std::size_t block_bytes = 1u << 20;

    // `io`: where the waiting coroutine runs (wake-ups are posted there). `capacity` is rounded
    // up to whole blocks (at least two).
    upload_spool(boost::asio::any_io_executor io, std::uint64_t capacity, std::uint64_t skip);

    // Packer side (one thread). Blocks while the spool is full; errc::operation_canceled once
    // cancelled.
    std::error_code append(std::span<const std::byte> bytes);
    // The pack is over (ok or not); wakes the coroutine.
    void finish(outbox_archive result);

    // Coroutine side. A snapshot of where things stand.
    struct state {
        std::uint64_t begin = 0;  // first byte still held (everything below was acknowledged or skipped)
        std::uint64_t end = 0;    // bytes the packer produced so far (skipped ones included)
        bool finished = false;
    };
    state snapshot() const;
    // Waits until the packer appended or finished since the last wait (no polling).
    boost::asio::awaitable<void> wait();
    // Up to `max` contiguous bytes from `offset` (begin <= offset < end); stable until release().
    std::span<const std::byte> view(std::uint64_t offset, std::size_t max) const;
    // Drops every byte below `offset` (acknowledged by the receiver; past end(): those not yet
    // packed are skipped when they come); wakes a blocked packer.
    void release(std::uint64_t offset);
    // Ends the pack early: a blocked append() returns at once, later ones fail.
    void cancel();
    // The packer's result; only after snapshot().finished.
    outbox_archive& result() { return result_; }
    std::uint64_t peak_held() const;  // most bytes held at once (tests check the bound)

private:
    void wake();

    const std::uint64_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable room_;
    std::deque<std::unique_ptr<std::byte[]>> blocks_;  // blocks_[i] holds [base_ + i * block, ...)
    std::uint64_t base_ = 0;
    std::uint64_t begin_ = 0;
    std::uint64_t end_ = 0;
    std::uint64_t skip_ = 0;
    std::uint64_t peak_ = 0;
    bool finished_ = false;
    bool cancelled_ = false;
    outbox_archive result_;
    boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> wakeups_;
};

}  // namespace labsync::transports::detail
