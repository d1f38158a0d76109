#pragma once
// The two instantiations of session<Stream>, each in its own translation unit
// (session_plain.cpp, session_tls.cpp); serve_connection (session.cpp) picks one.

#include "receiver_context.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <memory>
#include <string>

namespace labsync::receiver {

boost::asio::awaitable<void> serve_plain(receiver_context& ctx, boost::beast::tcp_stream& tcp,
                                         std::string peer, std::shared_ptr<connection_control> control);

// TLS handshake (bounded by --header-timeout), then the session over TLS.
boost::asio::awaitable<void> serve_tls(receiver_context& ctx, boost::beast::tcp_stream tcp, std::string peer,
                                       std::shared_ptr<connection_control> control);

}  // namespace labsync::receiver
