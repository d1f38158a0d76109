// The listener: binds, prints `listening on HOST:PORT`, accepts (up to --max-connections),
// and shuts down on SIGTERM/SIGINT: stop accepting, close idle connections, let uploads finish
// until --shutdown-grace, then close the rest (their temp files go with them) and exit 0.
#include "receiver_context.hpp"
#include "session.hpp"

#include <openssl/ssl.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>

#include <systemd/sd-daemon.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

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

awaitable<void> accept_loop(receiver_context& ctx, tcp::acceptor& acceptor) {
    for (;;) {
        auto [ec, socket] =
            co_await acceptor.async_accept(asio::make_strand(ctx.io), asio::as_tuple(asio::use_awaitable));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            ctx.log->warn("accept: {}", ec.message());
            continue;
        }
        if (ctx.connections.size() >= ctx.config.max_connections &&
            ctx.connections.evict_one_unauthenticated()) {
            ctx.stats.connection_evicted();
        }
        if (ctx.connections.size() >= ctx.config.max_connections) {
            ctx.stats.connection_refused();
            ctx.log->warn("refusing a connection: {} open (--max-connections)", ctx.connections.size());
            continue;  // the socket closes as it goes out of scope
        }
        auto ex = socket.get_executor();
        auto control = ctx.connections.add(ex);
        asio::co_spawn(ex, serve_connection(ctx, std::move(socket), std::move(control)),
                       [&ctx](std::exception_ptr e) {
                           if (!e) return;
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& err) {
                               ctx.log->error("connection ended by exception: {}", err.what());
                           }
                       });
    }
}

// `signals` is registered before `listening on` is printed: a SIGTERM sent as soon as that line
// appears must take this path (exit 0), not the default action.
awaitable<void> shutdown_on_signal(receiver_context& ctx, tcp::acceptor& acceptor,
                                   asio::signal_set& signals) {
    auto [ec, sig] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    ctx.log->info("signal {}: no new connections; waiting up to {} ms for {} connection(s)", sig,
                  ctx.config.shutdown_grace.count(), ctx.connections.size());
    ctx.stopping = true;
    ::sd_notify(0, "STOPPING=1");
    boost::system::error_code ignored;
    acceptor.close(ignored);
    ctx.connections.close(false);
    asio::steady_timer timer(ctx.io);
    auto deadline = std::chrono::steady_clock::now() + ctx.config.shutdown_grace;
    while (ctx.connections.size() > 0 && std::chrono::steady_clock::now() < deadline) {
        ctx.connections.close(false);  // connections that finished a request since
        timer.expires_after(std::chrono::milliseconds(20));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (ctx.connections.size() > 0) {
        ctx.log->warn("grace period over: closing {} connection(s); their uploads are discarded",
                      ctx.connections.size());
        ctx.connections.close(true);
    }
}

// Under systemd (Type=notify, WatchdogSec=) the pings come from the I/O context itself, so a
// wedged event loop stops them and systemd restarts the receiver. Without WATCHDOG_USEC: no-op.
awaitable<void> watchdog_loop(receiver_context& ctx) {
    std::uint64_t usec = 0;
    if (::sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) co_return;
    asio::steady_timer timer(ctx.io);
    while (!ctx.stopping) {
        ::sd_notify(0, "WATCHDOG=1");
        timer.expires_after(std::chrono::microseconds(usec / 2));
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
    }
}

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
    asio::signal_set signals(io, SIGTERM, SIGINT);
    auto bound = acceptor.local_endpoint();
    std::string host =
        bound.address().is_v6() ? "[" + bound.address().to_string() + "]" : bound.address().to_string();
    std::printf("listening on %s:%u\n", host.c_str(), static_cast<unsigned>(bound.port()));
    std::fflush(stdout);
    log->info("store {} ({}), {}, member check {}", ctx.store.root().string(), ctx.tls ? "TLS" : "plain HTTP",
              cfg.tokens ? std::to_string(cfg.tokens->size()) + " token(s)" : "no tokens",
              cfg.member_check ? "on" : "off");

    asio::co_spawn(io, accept_loop(ctx, acceptor), asio::detached);
    asio::co_spawn(io, shutdown_on_signal(ctx, acceptor, signals), asio::detached);
    asio::co_spawn(io, watchdog_loop(ctx), asio::detached);
    ::sd_notify(0, "READY=1");
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < cfg.io_threads; ++i) threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    disk.join();
    log->info("stopped");
    return 0;
}

}  // namespace labsync::receiver
