#pragma once
// One accepted connection: TLS handshake (when configured), then HTTP/1.1 requests until the
// peer closes, a timeout cuts it, or shutdown closes it.

#include "receiver_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace labsync::receiver {

boost::asio::awaitable<void> serve_connection(receiver_context& ctx, boost::asio::ip::tcp::socket socket);

}  // namespace labsync::receiver
