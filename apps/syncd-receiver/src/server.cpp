// The process around the listener: logger, store, pools, TLS context, the bound acceptor, signals
// and systemd notifications; and the listener itself (server.hpp). On SIGTERM/SIGINT: stop
// accepting, close idle connections, let uploads finish until --shutdown-grace, then close the
// rest (their temp files go with them) and exit 0.
#include "server.hpp"

#include "session.hpp"

#include <openssl/ssl.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <systemd/sd-daemon.h>

#include <cstdio>
#include <thread>

namespace labsync::receiver {
namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;

void connection_control::close() {
    close_requested = true;
    if (stream == nullptr) return;
    boost::system::error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
}

std::shared_ptr<connection_control> connection_registry::add(asio::any_io_executor strand) {
    auto c = std::make_shared<connection_control>();
    c->strand = std::move(strand);
    std::lock_guard lock(mutex_);
    list_.push_back(c);
    return c;
}

void connection_registry::remove(const std::shared_ptr<connection_control>& c) {
    std::lock_guard lock(mutex_);
    list_.remove(c);
}

std::size_t connection_registry::size() const {
    std::lock_guard lock(mutex_);
    return list_.size();
}

void connection_registry::close(bool also_busy) {
    std::lock_guard lock(mutex_);
    for (auto& c : list_) {
        asio::post(c->strand, [c, also_busy] {
            if (also_busy || !c->busy) c->close();
        });
    }
}

bool connection_registry::evict_one_unauthenticated() {
    std::lock_guard lock(mutex_);
    for (auto it = list_.begin(); it != list_.end(); ++it) {  // oldest first
        auto c = *it;
        if (c->authenticated.load() || c->busy.load()) continue;
        list_.erase(it);  // no longer counted; its session unregisters again (a no-op) as it ends
        asio::post(c->strand, [c] {
            if (!c->busy.load()) c->close();
        });
        return true;
    }
    return false;
}

server::server(receiver_context& ctx, tcp::acceptor acceptor, executor_type strand)
    : ctx_(ctx), strand_(std::move(strand)), acceptor_(std::move(acceptor)), all_ended_(strand_) {}

void server::cancel() {
    asio::dispatch(strand_, [this] {
        ctx_.stopping = true;  // busy connections end after their current request
        boost::system::error_code ignored;
        acceptor_.close(ignored);  // ends accept_loop
    });
}

awaitable<void> server::async_run() {
    co_await accept_loop();         // until cancel(), which also set ctx_.stopping
    ctx_.connections.close(false);  // idle ones; busy ones see `stopping` when their request ends
    // Named locals, no co_await inside a condition: GCC 12 laid this frame out wrongly otherwise.
    const auto grace_end = std::chrono::steady_clock::now() + ctx_.config.shutdown_grace;
    const bool ended_in_grace = co_await all_ended_by(grace_end);
    if (ended_in_grace) co_return;
    ctx_.log->warn("grace period over: closing {} connection(s); their uploads are discarded",
                   ctx_.connections.size());
    ctx_.connections.close(true);
    const auto never = std::chrono::steady_clock::time_point::max();
    co_await all_ended_by(never);
}

awaitable<void> server::accept_loop() {
    for (;;) {
        // The error is redirected, not bound with `auto [ec, socket] = co_await` (GCC 12 mishandles
        // structured bindings across co_await; see docs/architecture.md, Engine).
        tcp::socket socket(asio::make_strand(ctx_.io));
        boost::system::error_code ec;
        co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
        // A connection accepted as cancel() closed the acceptor is dropped with the others.
        if (!acceptor_.is_open()) co_return;
        if (ec) {
            ctx_.log->warn("accept: {}", ec.message());
            continue;
        }
        if (ctx_.connections.size() >= ctx_.config.max_connections &&
            ctx_.connections.evict_one_unauthenticated()) {
            ctx_.stats.connection_evicted();
        }
        if (ctx_.connections.size() >= ctx_.config.max_connections) {
            ctx_.stats.connection_refused();
            ctx_.log->warn("refusing a connection: {} open (--max-connections)", ctx_.connections.size());
            continue;  // the socket closes as it goes out of scope
        }
        start_connection(std::move(socket));
    }
}

void server::start_connection(tcp::socket socket) {
    auto ex = socket.get_executor();
    auto control = ctx_.connections.add(ex);
    ++live_;
    asio::co_spawn(ex, serve_connection(ctx_, std::move(socket), std::move(control)),
                   [this](std::exception_ptr e) {
                       if (e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& err) {
                               ctx_.log->error("connection ended by exception: {}", err.what());
                           }
                       }
                       asio::post(strand_, [this] { connection_ended(); });
                   });
}

void server::connection_ended() {
    if (--live_ == 0) all_ended_.cancel();
}

awaitable<bool> server::all_ended_by(std::chrono::steady_clock::time_point deadline) {
    while (live_ > 0 && std::chrono::steady_clock::now() < deadline) {
        all_ended_.expires_at(deadline);
        co_await all_ended_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return live_ == 0;
}

namespace {

std::optional<asio::ssl::context> make_tls(const server_config& cfg) {
    if (!cfg.tls_cert) return std::nullopt;
    asio::ssl::context tls(asio::ssl::context::tls_server);
    tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
    // TLS 1.2: forward-secret AEAD suites only; TLS 1.3 keeps OpenSSL's defaults (all AEAD).
    SSL_CTX_set_cipher_list(tls.native_handle(), "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!SHA1");
    tls.use_certificate_chain_file(cfg.tls_cert->string());
    tls.use_private_key_file(cfg.tls_key->string(), asio::ssl::context::pem);
    if (cfg.client_ca) {
        tls.load_verify_file(cfg.client_ca->string());
        auto mode = asio::ssl::verify_peer;
        if (cfg.require_client_cert) mode |= asio::ssl::verify_fail_if_no_peer_cert;
        tls.set_verify_mode(mode);
    }
    return tls;
}

// Under systemd (Type=notify, WatchdogSec=) the pings come from the I/O context itself, so a
// wedged event loop stops them and systemd restarts the receiver. Without WATCHDOG_USEC: no-op.
// Pings stop once shutdown starts; cancel() ends the wait at once.
class systemd_watchdog {
public:
    systemd_watchdog(server::executor_type strand, const receiver_context& ctx)
        : timer_(std::move(strand)), ctx_(ctx) {}
    void start() {
        std::uint64_t usec = 0;
        if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
        period_ = std::chrono::microseconds(usec / 2);
        tick();
    }
    void cancel() { timer_.cancel(); }

private:
    void tick() {
        if (ctx_.stopping) return;
        ::sd_notify(0, "WATCHDOG=1");
        timer_.expires_after(period_);
        timer_.async_wait([this](const boost::system::error_code& ec) {
            if (!ec) tick();
        });
    }
    asio::steady_timer timer_;
    const receiver_context& ctx_;
    std::chrono::microseconds period_{0};
};

}  // namespace

int run_server(const server_config& cfg) {
    auto log = spdlog::stderr_logger_mt("syncd-receiver");
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    for (const auto& warning : cfg.startup_warnings) log->warn("{}", warning);
    std::string error;
    auto store = run_store::open(cfg.store, error);
    if (!store) {
        log->error("{}", error);
        return 2;
    }
    asio::io_context io(static_cast<int>(cfg.io_threads));
    asio::thread_pool disk(cfg.disk_threads);
    receiver_context ctx{cfg, std::move(*store), {}, io, disk, std::nullopt, {}, log, {}, {}, {}, {}};
    ctx.verify_slots = std::make_unique<slot_channel>(io, verify_concurrency(cfg.disk_threads));
    ctx.uploads = std::make_unique<upload_store>(ctx.store.root(), cfg.upload_expiry);
    ctx.last_upload_sweep =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    for (auto n = ctx.uploads->sweep(ctx.last_upload_sweep); n > 0; --n)
        ctx.stats.count_upload_event(metrics::upload_event::expired);
    try {
        ctx.tls = make_tls(cfg);
    } catch (const std::exception& e) {
        log->error("TLS setup (--tls-cert/--tls-key/--client-ca): {}", e.what());
        return 2;
    }
    tcp::acceptor acceptor(io);
    try {
        tcp::endpoint endpoint(asio::ip::make_address(cfg.host), cfg.port);
        acceptor.open(endpoint.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(endpoint);
        acceptor.listen(asio::socket_base::max_listen_connections);
    } catch (const std::exception& e) {
        log->error("--listen {}:{}: {}", cfg.host, cfg.port, e.what());
        return 2;
    }
    // The listener, the signals and the watchdog share one strand. `signals` is registered before
    // `listening on` is printed: a SIGTERM sent as soon as that line appears must take this path
    // (exit 0), not the default action.
    auto control = asio::make_strand(io);
    asio::signal_set signals(control, SIGTERM, SIGINT);
    auto bound = acceptor.local_endpoint();
    std::string host =
        bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
    std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    log->info("store {} ({}), {}, member check {}", ctx.store.root().string(), ctx.tls ? "TLS" : "plain HTTP",
              cfg.tokens ? std::to_string(cfg.tokens->size()) + " token(s)" : "no tokens",
              cfg.member_check ? "on" : "off");

    server listener(ctx, std::move(acceptor), control);
    systemd_watchdog watchdog(control, ctx);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        log->info("signal {}: no new connections; waiting up to {} ms for {} connection(s)", sig,
                  cfg.shutdown_grace.count(), ctx.connections.size());
        ::sd_notify(0, "STOPPING=1");
        listener.cancel();
    });
    int exit_code = 0;
    asio::co_spawn(listener.get_executor(), listener.async_run(), [&](std::exception_ptr e) {
        signals.cancel();
        watchdog.cancel();
        if (!e) return;
        exit_code = 1;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& err) {
            log->error("listener ended by exception: {}", err.what());
        }
    });
    ::sd_notify(0, "READY=1");
    watchdog.start();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < cfg.io_threads; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    disk.join();
    log->info("stopped");
    return exit_code;
}

}  // namespace labsync::receiver
