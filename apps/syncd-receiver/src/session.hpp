#pragma once
// One accepted connection: TLS handshake (when configured), then HTTP/1.1 requests until the
// peer closes, a timeout cuts it, or shutdown closes it.

#include "receiver_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace labsync::receiver {

// `control` was registered by the acceptor (so --max-connections counts it from the accept on);
// the connection unregisters it when it ends.
boost::asio::awaitable<void> serve_connection(receiver_context& ctx, boost::asio::ip::tcp::socket socket,
                                              std::shared_ptr<connection_control> control);

}  // namespace labsync::receiver
