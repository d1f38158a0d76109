#pragma once
// The Asio core of the daemon's two side servers (admin socket, /metrics); included only by
// admin_server.cpp and metrics_http.cpp. Each server has its own io_context on its own thread, so
// it answers while the engine's io_context is busy; every connection is its own coroutine (many at
// once, capped), every read and write has a deadline, and the blocking part of a request (engine
// calls, store reads, rendering) runs on the daemon's handler pool so that one slow request never
// holds up the others.

#include "labsync/common/log.hpp"
#include "labsync/common/on_pool.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <set>
#include <thread>
#include <type_traits>
#include <utility>

namespace labsync::apps::side_io {

namespace asio = boost::asio;
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// One io_context and its thread. stop() runs `close` (closing the acceptor and every connection)
// on that thread and returns once every coroutine has returned.
class loop {
public:
    loop() = default;
    ~loop() { join(); }
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    asio::io_context& io() noexcept { return io_; }
    void start() {
        thread_ = std::thread([this] { io_.run(); });
    }
    void stop(const std::function<void()>& close) {
        if (thread_.joinable())
            asio::post(io_, close);
        else
            close();
        join();
    }

private:
    void join() {
        work_.reset();
        if (thread_.joinable()) thread_.join();
    }

    asio::io_context io_{1};
    asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
    std::thread thread_;
};

// The sockets being served (loop thread only), so that stop can close them; at most `cap`.
template <class Socket>
class connections {
public:
    explicit connections(std::size_t cap) : cap_(cap) {}
    bool full() const noexcept { return live_.size() >= cap_; }
    // Registers `socket` for the lifetime of the returned guard.
    auto hold(Socket& socket) {
        live_.insert(&socket);
        auto release = [this](Socket* s) { live_.erase(s); };
        return std::unique_ptr<Socket, decltype(release)>(&socket, release);
    }
    void close_all() {
        for (auto* s : live_) {
            boost::system::error_code ignored;
            s->close(ignored);
        }
    }

private:
    std::size_t cap_;
    std::set<Socket*> live_;
};

// `op` (an as_tuple awaitable) or nothing when `limit` passes first (op is then cancelled).
template <class T>
asio::awaitable<std::optional<T>> within(asio::awaitable<T> op, std::chrono::steady_clock::duration limit) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, limit);
    auto first = co_await (std::move(op) || timer.async_wait(use_tuple));
    if (first.index() == 0) co_return std::move(std::get<0>(first));
    co_return std::nullopt;
}

// Accepts on `acceptor` until it is closed, serving each connection with `serve(socket)` (a
// coroutine) while fewer than the cap are open; a connection over the cap is closed at once.
template <class Acceptor, class Socket, class Serve>
asio::awaitable<void> accept_loop(Acceptor& acceptor, connections<Socket>& live, Serve serve,
                                  const common::log_fn& log, const char* what) {
    while (acceptor.is_open()) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
        if (ec) {
            // Out of descriptors or similar: say so and give the system a moment.
            if (log) log(common::log_level::warning, fmt::format("{}: accept: {}", what, ec.message()));
            asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(use_tuple);
            continue;
        }
        ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);  // not inherited by transport children
        if (live.full()) continue;                             // closed by its destructor
        asio::co_spawn(acceptor.get_executor(), serve(std::move(socket)), [log, what](std::exception_ptr e) {
            if (!e || !log) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log(common::log_level::error, fmt::format("{} connection: {}", what, ex.what()));
            }
        });
    }
}

}  // namespace labsync::apps::side_io
