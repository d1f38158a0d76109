// Wakes a subprocess driver's coroutine when its transfer's share of the bandwidth budget
// changes (rclone then calls its remote control, rsync restarts from its partial state).
// Header-only, private to transports/src.
#pragma once

#include "labsync/transports/transport.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <memory>

namespace labsync::transports::detail {

class rate_watch {
public:
    // `lease` may be null (no budget): rate() is 0 and changed() never returns.
    rate_watch(boost::asio::any_io_executor ex, bandwidth_lease* lease)
        : state_(std::make_shared<state>(std::move(ex))), lease_(lease) {
        if (!lease_) return;
        // Called from the thread that re-split the budget: only hand the news to our executor.
        lease_->on_change([s = state_](std::uint64_t) {
            boost::asio::post(s->timer.get_executor(), [s] { s->timer.cancel(); });
        });
    }
    ~rate_watch() {
        if (lease_) lease_->on_change({});
    }
    rate_watch(const rate_watch&) = delete;
    rate_watch& operator=(const rate_watch&) = delete;

    std::uint64_t rate() const { return lease_ ? lease_->rate() : 0; }

    // Returns the new share once it differs from `applied` (and `worth(applied, share)` says
    // acting on it pays, when given) and has not changed for `settle` (transfers starting
    // together re-split several times in a row; one restart is enough). Ends only by
    // cancellation when the share never changes.
    boost::asio::awaitable<std::uint64_t> changed(std::uint64_t applied, std::chrono::milliseconds settle,
                                                  bool (*worth)(std::uint64_t, std::uint64_t) = nullptr) {
        constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
        for (;;) {
            const std::uint64_t now = rate();
            if (now != applied && (!worth || worth(applied, now))) {
                state_->timer.expires_after(settle);
                co_await state_->timer.async_wait(tuple);
                if (cancelled(co_await boost::asio::this_coro::cancellation_state)) co_return applied;
                if (rate() == now) co_return now;
                continue;  // changed again while settling
            }
            state_->timer.expires_at(boost::asio::steady_timer::time_point::max());
            co_await state_->timer.async_wait(tuple);
            if (cancelled(co_await boost::asio::this_coro::cancellation_state)) co_return applied;
        }
    }

private:
    struct state {
        explicit state(boost::asio::any_io_executor ex) : timer(std::move(ex)) {}
        boost::asio::steady_timer timer;
    };
    template <class S>
    static bool cancelled(const S& cs) {
        return cs.cancelled() != boost::asio::cancellation_type::none;
    }

    std::shared_ptr<state> state_;
    bandwidth_lease* lease_;
};

}  // namespace labsync::transports::detail
