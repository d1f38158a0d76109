// labsync-fault-proxy: a loopback TCP proxy that breaks connections on purpose, for the fault
// campaigns (docs/reliability.md). It listens on 127.0.0.1:0, prints `listening on 127.0.0.1:PORT`
// and forwards every connection to --target. The first --faulty connections get the fault of
// --mode; later ones are forwarded cleanly, so a sender that retries must eventually succeed.
//
//   reset        after --bytes bytes from the client: RST both sides (SO_LINGER 0)
//   close-after  after --bytes bytes from the client: FIN both sides
//   stall        after --bytes bytes from the client: stop reading and writing, keep both open
//   truncate     forward the request whole, but only --bytes bytes of the response, then FIN
//   drip         forward both directions --drip-bytes at a time every --drip-ms milliseconds
//
// Each accepted connection prints `conn N MODE`, each fault applied `fault N MODE`, so a test can
// await the event instead of sleeping; each connection's end `end N up BYTES down BYTES` (bytes
// forwarded from the client and from the server), so a bench can count what crossed the link.
// Single-threaded: one io_context, one coroutine per pump.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

enum class fault_mode { clean, reset, close_after, stall, truncate, drip };

struct options {
    std::string target_host = "127.0.0.1";
    unsigned short target_port = 0;
    fault_mode mode = fault_mode::clean;
    std::string mode_name = "clean";
    unsigned faulty = 1;           // connections 1..faulty get the fault
    std::uint64_t bytes = 0;       // threshold of reset/close-after/stall/truncate
    std::size_t drip_bytes = 512;  // drip: bytes per step
    std::chrono::milliseconds drip_ms{20};
};

void say(const std::string& line) {
    std::fputs((line + "\n").c_str(), stdout);
    std::fflush(stdout);
}

// One proxied connection. Both pumps share it; `done` ends them both.
struct link : std::enable_shared_from_this<link> {
    link(tcp::socket c, tcp::socket s, unsigned n, fault_mode m)
        : client(std::move(c)), server(std::move(s)), number(n), mode(m) {}
    tcp::socket client;
    tcp::socket server;
    unsigned number;
    fault_mode mode;
    std::uint64_t up_bytes = 0;
    std::uint64_t down_bytes = 0;
    bool done = false;

    void close_both(bool hard) {
        boost::system::error_code ignored;
        if (hard) {
            client.set_option(asio::socket_base::linger(true, 0), ignored);
            server.set_option(asio::socket_base::linger(true, 0), ignored);
        } else {
            client.shutdown(tcp::socket::shutdown_both, ignored);
            server.shutdown(tcp::socket::shutdown_both, ignored);
        }
        client.close(ignored);
        server.close(ignored);
        done = true;
    }
};

const char* name_of(fault_mode m) {
    switch (m) {
        case fault_mode::clean:
            return "clean";
        case fault_mode::reset:
            return "reset";
        case fault_mode::close_after:
            return "close-after";
        case fault_mode::stall:
            return "stall";
        case fault_mode::truncate:
            return "truncate";
        case fault_mode::drip:
            return "drip";
    }
    return "?";
}

// Copies `from` to `to`. `upstream` is client → server. Applies the connection's fault.
asio::awaitable<void> pump(std::shared_ptr<link> l, bool upstream, options o) {
    tcp::socket& from = upstream ? l->client : l->server;
    tcp::socket& to = upstream ? l->server : l->client;
    std::array<char, 16384> buf{};
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        std::size_t want = buf.size();
        if (l->mode == fault_mode::drip) want = o.drip_bytes;
        // A threshold fault fires exactly at --bytes: never read past it.
        std::uint64_t& count = upstream ? l->up_bytes : l->down_bytes;
        bool threshold_side =
            (upstream && (l->mode == fault_mode::reset || l->mode == fault_mode::close_after ||
                          l->mode == fault_mode::stall)) ||
            (!upstream && l->mode == fault_mode::truncate);
        if (threshold_side && o.bytes > count && o.bytes - count < want) want = std::size_t(o.bytes - count);
        if (threshold_side && count >= o.bytes) {
            say("fault " + std::to_string(l->number) + " " + name_of(l->mode));
            if (l->mode == fault_mode::stall) {
                // Keep both sockets open and silent until the proxy is stopped.
                timer.expires_after(std::chrono::hours(1));
                co_await timer.async_wait(use_tuple);
                co_return;
            }
            l->close_both(l->mode == fault_mode::reset);
            co_return;
        }
        auto [rec, n] = co_await from.async_read_some(asio::buffer(buf.data(), want), use_tuple);
        if (l->done) co_return;
        if (rec) {
            // EOF or error: pass the half-close on, the other direction keeps going.
            boost::system::error_code ignored;
            to.shutdown(tcp::socket::shutdown_send, ignored);
            co_return;
        }
        auto [wec, w] = co_await asio::async_write(to, asio::buffer(buf.data(), n), use_tuple);
        (void)w;
        if (wec || l->done) {
            if (!l->done) l->close_both(false);
            co_return;
        }
        count += n;
        if (l->mode == fault_mode::drip) {
            timer.expires_after(o.drip_ms);
            co_await timer.async_wait(use_tuple);
        }
    }
}

asio::awaitable<void> serve(tcp::socket client, unsigned number, options o) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket server(ex);
    auto [rec, ep] = co_await asio::async_connect(
        server, tcp::resolver(ex).resolve(o.target_host, std::to_string(o.target_port)), use_tuple);
    (void)ep;
    fault_mode mode = number <= o.faulty ? o.mode : fault_mode::clean;
    say("conn " + std::to_string(number) + " " + name_of(mode));
    if (rec) {
        say("upstream connect failed: " + rec.message());
        co_return;
    }
    boost::system::error_code ignored;
    client.set_option(tcp::no_delay(true), ignored);
    server.set_option(tcp::no_delay(true), ignored);
    auto l = std::make_shared<link>(std::move(client), std::move(server), number, mode);
    co_await (pump(l, true, o) && pump(l, false, o));
    if (!l->done) l->close_both(false);
    say("end " + std::to_string(number) + " up " + std::to_string(l->up_bytes) + " down " +
        std::to_string(l->down_bytes));
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, options o) {
    unsigned number = 0;
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
        if (ec) co_return;
        asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), ++number, o), asio::detached);
    }
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "labsync-fault-proxy: %s\nusage: labsync-fault-proxy --target HOST:PORT [--mode "
                 "clean|reset|close-after|stall|truncate|drip] [--faulty K] [--bytes N] [--drip-bytes N] "
                 "[--drip-ms MS]\n",
                 why);
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (i + 1 >= argc) usage("every option takes a value");
        std::string v = argv[++i];
        if (a == "--target") {
            auto colon = v.rfind(':');
            if (colon == std::string::npos) usage("--target wants HOST:PORT");
            o.target_host = v.substr(0, colon);
            o.target_port = static_cast<unsigned short>(std::stoul(v.substr(colon + 1)));
        } else if (a == "--mode") {
            o.mode_name = v;
            if (v == "clean")
                o.mode = fault_mode::clean;
            else if (v == "reset")
                o.mode = fault_mode::reset;
            else if (v == "close-after")
                o.mode = fault_mode::close_after;
            else if (v == "stall")
                o.mode = fault_mode::stall;
            else if (v == "truncate")
                o.mode = fault_mode::truncate;
            else if (v == "drip")
                o.mode = fault_mode::drip;
            else
                usage("unknown --mode");
        } else if (a == "--faulty") {
            o.faulty = static_cast<unsigned>(std::stoul(v));
        } else if (a == "--bytes") {
            o.bytes = std::stoull(v);
        } else if (a == "--drip-bytes") {
            o.drip_bytes = std::max<std::size_t>(1, std::stoul(v));
        } else if (a == "--drip-ms") {
            o.drip_ms = std::chrono::milliseconds(std::stoul(v));
        } else {
            usage("unknown option");
        }
    }
    if (o.target_port == 0) usage("--target is required");
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    asio::io_context io;
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    say("listening on 127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { io.stop(); });
    asio::co_spawn(io, listen(acceptor, o), asio::detached);
    io.run();
    return 0;
}
