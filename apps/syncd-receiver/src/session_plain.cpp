#include "session_impl.hpp"
#include "session_kinds.hpp"

namespace labsync::receiver {

awaitable<void> serve_plain(receiver_context& ctx, beast::tcp_stream& tcp, std::string peer,
                            std::shared_ptr<connection_control> control) {
    session<beast::tcp_stream> s(ctx, tcp, std::move(peer), {}, std::move(control));
    co_await s.run();
}

}  // namespace labsync::receiver
