#pragma once
// The listener as a long-lived object (STYLE: async_run + cancel). async_run accepts connections
// (up to --max-connections, evicting idle anonymous ones first) and serves each on its own strand
// until cancel(). Then it shuts down: no new connections; idle ones are closed at once; a
// connection serving a request finishes it (the response says `Connection: close`) within
// --shutdown-grace; after the grace the rest are closed (their uploads are discarded). It
// completes once the last connection has ended, so nothing it started outlives it.
//
// Every connection is tracked: the server counts the connections it spawned and is told, on its
// strand, when each one ends; the last one to end wakes the shutdown (a timer cancelled by that
// event, never a poll). Closing a connection = closing its socket on the connection's strand
// (connection_registry), which ends whatever I/O it awaits.

#include "receiver_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstddef>

namespace labsync::receiver {

class server {
public:
    using executor_type = boost::asio::strand<boost::asio::io_context::executor_type>;

    // `acceptor` is open, bound and listening. All of the server's bookkeeping runs on `strand`.
    server(receiver_context& ctx, boost::asio::ip::tcp::acceptor acceptor, executor_type strand);
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    executor_type get_executor() const noexcept { return strand_; }

    // Runs the listener as described above, on get_executor() (co_spawn it there); completes
    // after a clean shutdown. The server must outlive it.
    boost::asio::awaitable<void> async_run();

    // Starts the shutdown. Thread-safe; calling it again does nothing more.
    void cancel();

private:
    boost::asio::awaitable<void> accept_loop();
    void start_connection(boost::asio::ip::tcp::socket socket);
    void connection_ended();  // on strand_
    // Waits until every connection has ended or `deadline` passed; true when none is left.
    boost::asio::awaitable<bool> all_ended_by(std::chrono::steady_clock::time_point deadline);

    receiver_context& ctx_;
    executor_type strand_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer all_ended_;  // cancelled when `live_` drops to 0
    std::size_t live_ = 0;                 // connections spawned and not yet ended (strand_ only)
};

}  // namespace labsync::receiver
