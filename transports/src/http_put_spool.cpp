// The memory spool of http_put's streaming upload; see http_put_spool.hpp.
#include "http_put_spool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;

namespace labsync::transports::detail {

upload_spool::upload_spool(asio::any_io_executor io, std::uint64_t capacity, std::uint64_t skip)
    : capacity_(std::max<std::uint64_t>((capacity + block_bytes - 1) / block_bytes, 2) * block_bytes),
      begin_(skip),
      skip_(skip),
      wakeups_(std::move(io), 1) {
    base_ = skip;
}

std::error_code upload_spool::append(std::span<const std::byte> bytes) {
    std::unique_lock lock(mutex_);
    while (!bytes.empty()) {
        if (cancelled_) return std::make_error_code(std::errc::operation_canceled);
        if (end_ < skip_) {  // already at the receiver: counted (and hashed by the packer), not kept
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(bytes.size(), skip_ - end_));
            end_ += n;
            bytes = bytes.subspan(n);
            continue;
        }
        room_.wait(lock, [&] { return cancelled_ || end_ - base_ < capacity_; });
        if (cancelled_) continue;
        const std::uint64_t at = end_ - base_;
        const auto index = static_cast<std::size_t>(at / block_bytes);
        const auto within = static_cast<std::size_t>(at % block_bytes);
        if (index == blocks_.size()) blocks_.emplace_back(new std::byte[block_bytes]);
        const std::size_t n = std::min(bytes.size(), block_bytes - within);
        std::memcpy(blocks_[index].get() + within, bytes.data(), n);
        end_ += n;
        peak_ = std::max(peak_, end_ - base_);
        bytes = bytes.subspan(n);
    }
    lock.unlock();
    wake();
    return {};
}

void upload_spool::finish(outbox_archive result) {
    {
        std::lock_guard lock(mutex_);
        result_ = std::move(result);
        finished_ = true;
    }
    wake();
}

upload_spool::state upload_spool::snapshot() const {
    std::lock_guard lock(mutex_);
    return {begin_, end_, finished_};
}

asio::awaitable<void> upload_spool::wait() {
    co_await wakeups_.async_receive(asio::as_tuple(asio::use_awaitable));
}

std::span<const std::byte> upload_spool::view(std::uint64_t offset, std::size_t max) const {
    std::lock_guard lock(mutex_);
    if (offset < begin_ || offset >= end_) return {};
    const std::uint64_t at = offset - base_;
    const auto index = static_cast<std::size_t>(at / block_bytes);
    const auto within = static_cast<std::size_t>(at % block_bytes);
    const auto n =
        static_cast<std::size_t>(std::min<std::uint64_t>({max, block_bytes - within, end_ - offset}));
    return {blocks_[index].get() + within, n};
}

void upload_spool::release(std::uint64_t offset) {
    {
        std::lock_guard lock(mutex_);
        if (offset > end_) {  // the receiver holds more than was packed yet: skip up to there
            skip_ = std::max(skip_, offset);
            blocks_.clear();
            base_ = begin_ = offset;
        }
        begin_ = std::max(begin_, offset);
        while (!blocks_.empty() && base_ + block_bytes <= begin_) {
            blocks_.pop_front();
            base_ += block_bytes;
        }
    }
    room_.notify_all();
}

void upload_spool::cancel() {
    {
        std::lock_guard lock(mutex_);
        cancelled_ = true;
    }
    room_.notify_all();
}

std::uint64_t upload_spool::peak_held() const {
    std::lock_guard lock(mutex_);
    return peak_;
}

void upload_spool::wake() {
    // One pending wake-up is enough: the coroutine takes a fresh snapshot after it.
    wakeups_.try_send(boost::system::error_code{});
}

}  // namespace labsync::transports::detail
