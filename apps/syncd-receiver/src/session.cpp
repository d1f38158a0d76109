#include "session.hpp"

#include "session_kinds.hpp"

namespace labsync::receiver {
namespace asio = boost::asio;
namespace beast = boost::beast;

asio::awaitable<void> serve_connection(receiver_context& ctx, asio::ip::tcp::socket socket,
                                       std::shared_ptr<connection_control> control) {
    beast::error_code ignored;
    auto endpoint = socket.remote_endpoint(ignored);
    std::string peer = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
    struct unregister {
        receiver_context& ctx;
        std::shared_ptr<connection_control> control;
        ~unregister() {
            control->stream = nullptr;
            ctx.connections.remove(control);
        }
    } guard{ctx, control};
    beast::tcp_stream tcp(std::move(socket));
    tcp.socket().set_option(asio::ip::tcp::no_delay(true), ignored);
    if (control->close_requested) co_return;  // evicted or shut down before it started
    if (ctx.tls) {
        co_await serve_tls(ctx, std::move(tcp), std::move(peer), control);
        co_return;
    }
    control->stream = &tcp;
    co_await serve_plain(ctx, tcp, std::move(peer), control);
    tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace labsync::receiver
