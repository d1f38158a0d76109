// The Beast side of http_put. Timeouts: beast::tcp_stream::expires_after before every read and
// write (an idle timeout: the operation is cancelled and the socket closed), and a steady_timer
// raced with `||` against name resolution. Connections are kept alive in a small idle pool and
// re-opened when the server closed them.
#include "http_put_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace labsync::transports::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
using error_code = boost::system::error_code;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr std::uint64_t response_body_limit = 64 * 1024;

struct connection {
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    bool reused = false;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

http_failure classify(const error_code& ec, bool connecting) {
    if (ec == beast::error::timeout || ec == asio::error::timed_out)
        return connecting ? http_failure::connect_timeout : http_failure::io_timeout;
    if (ec.category() == asio::error::get_ssl_category())
        return failure_for_tls_reason(ERR_GET_REASON(static_cast<unsigned long>(ec.value())));
    if (ec == ssl::error::stream_truncated) return http_failure::connection_reset;
    if (ec == asio::error::connection_refused || ec == asio::error::host_unreachable ||
        ec == asio::error::network_unreachable)
        return http_failure::connect_refused;
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
        return http_failure::protocol_error;
    return http_failure::connection_reset;
}

template <class Fields>
header_list fields_of(const Fields& fields) {
    header_list out;
    for (const auto& f : fields) out.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return out;
}

http_exchange failed(const error_code& ec, bool connecting, std::string_view step, bool body_sent = false) {
    http_exchange x;
    x.failure = classify(ec, connecting);
    x.failure_detail = std::string(step) + ": " + ec.message();
    x.body_sent = body_sent;
    return x;
}

// One request/response on an open connection. `Stream` is a tcp_stream or an ssl_stream.
template <class Stream>
asio::awaitable<http_exchange> exchange_on(Stream& stream, connection& conn, const http_put_config& config,
                                           http::request<http::empty_body>& request, file_body* body,
                                           std::chrono::milliseconds response_timeout, bool& keep_alive) {
    auto& low = conn.lowest();
    keep_alive = false;
    http::request_serializer<http::empty_body> serializer{request};
    low.expires_after(config.io_timeout);
    auto [wec, wn] = co_await http::async_write_header(stream, serializer, tuple_awaitable);
    if (wec) co_return failed(wec, false, "sending the request header");
    if (!body) {
        // A GET: the header is the whole request.
    } else {
        // Expect: 100-continue: the receiver answers 100 or refuses before we send a byte.
        http::response_parser<http::string_body> interim;
        interim.body_limit(response_body_limit);
        // The receiver may re-read a stored copy of this run before it answers (see put()).
        low.expires_after(std::max(config.io_timeout, response_timeout));
        auto [iec, in] = co_await http::async_read(stream, conn.buffer, interim, tuple_awaitable);
        if (iec) co_return failed(iec, false, "waiting for 100 Continue");
        if (interim.get().result_int() != 100) {
            // An early final answer: the body was never sent, so the connection is not reusable.
            http_exchange x;
            x.completed = true;
            x.status = interim.get().result_int();
            x.reason = std::string(interim.get().reason());
            x.body = std::move(interim.get().body());
            x.headers = fields_of(interim.get());
            co_return x;
        }
        const std::size_t step = std::max<std::size_t>(body->chunk_bytes, 64 * 1024);
        std::vector<char> chunk(body->view ? 0 : step);
        asio::steady_timer pacing(co_await asio::this_coro::executor);
        std::uint64_t offset = 0;
        while (offset < body->size) {
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(step, body->size - offset));
            if (body->limiter) {
                auto wait = body->limiter->reserve(n);
                if (wait.count() > 0) {
                    pacing.expires_after(wait);
                    co_await pacing.async_wait(tuple_awaitable);
                }
            }
            const char* data = chunk.data();
            if (body->view) {  // from memory (the spool): sent as it is, no copy
                auto bytes = body->view(body->offset + offset, n);
                if (bytes.empty()) {
                    http_exchange x;
                    x.failure = http_failure::local_io_error;
                    x.failure_detail = "the upload spool no longer holds the bytes of this part";
                    co_return x;
                }
                data = reinterpret_cast<const char*>(bytes.data());
                n = bytes.size();
            } else {
                // A page-cache pread of one chunk takes well under a millisecond; the archive was
                // just written or checked, so it is almost always cached.
                std::size_t got = 0;
                while (got < n) {
                    auto r = ::pread(body->fd, chunk.data() + got, n - got,
                                     static_cast<off_t>(body->offset + offset + got));
                    if (r < 0 && errno == EINTR) continue;
                    if (r <= 0) {
                        http_exchange x;
                        x.failure = http_failure::local_io_error;
                        x.failure_detail =
                            r < 0 ? std::string("reading the outbox archive: ") + std::strerror(errno)
                                  : "the outbox archive shrank while it was being sent";
                        co_return x;
                    }
                    got += static_cast<std::size_t>(r);
                }
            }
            low.expires_after(config.io_timeout);
            auto [bec, bn] = co_await asio::async_write(stream, asio::buffer(data, n), tuple_awaitable);
            if (bec) {
                // The receiver may have answered (413, 422, 507 …) and closed before taking the
                // whole body; its answer says more than the broken pipe, so read it if it is there.
                http::response_parser<http::string_body> late;
                late.body_limit(response_body_limit);
                low.expires_after(
                    std::min<std::chrono::milliseconds>(config.io_timeout, std::chrono::seconds(2)));
                auto [lec, ln] = co_await http::async_read(stream, conn.buffer, late, tuple_awaitable);
                if (lec) co_return failed(bec, false, "sending the body");
                http_exchange x;
                x.completed = true;
                x.status = late.get().result_int();
                x.reason = std::string(late.get().reason());
                x.body = std::move(late.get().body());
                x.headers = fields_of(late.get());
                co_return x;
            }
            offset += n;
            if (body->on_progress && *body->on_progress)
                (*body->on_progress)(body->offset + offset, body->total ? body->total : body->size);
        }
    }
    http::response_parser<http::string_body> final_parser;
    final_parser.body_limit(response_body_limit);
    if (request.method() == http::verb::head) final_parser.skip(true);  // fields only
    low.expires_after(std::max(config.io_timeout, response_timeout));
    auto [rec, rn] = co_await http::async_read(stream, conn.buffer, final_parser, tuple_awaitable);
    if (rec) co_return failed(rec, false, "reading the response", body != nullptr);
    low.expires_never();
    http_exchange x;
    x.completed = true;
    x.body_sent = body != nullptr;
    x.status = final_parser.get().result_int();
    x.reason = std::string(final_parser.get().reason());
    x.body = std::move(final_parser.get().body());
    x.headers = fields_of(final_parser.get());
    keep_alive = final_parser.get().keep_alive();
    co_return x;
}

}  // namespace

struct http_client::impl {
    parsed_url url;
    http_put_config config;
    std::optional<ssl::context> tls_context;
    std::mutex idle_mutex;
    std::vector<std::unique_ptr<connection>> idle;
    std::atomic<std::uint64_t> opened{0};

    std::unique_ptr<connection> take_idle() {
        std::lock_guard lock(idle_mutex);
        if (idle.empty()) return nullptr;
        auto c = std::move(idle.back());
        idle.pop_back();
        c->reused = true;
        return c;
    }

    void give_back(std::unique_ptr<connection> c) {
        std::lock_guard lock(idle_mutex);
        if (idle.size() < 8) idle.push_back(std::move(c));
    }

    asio::awaitable<std::unique_ptr<connection>> connect(http_exchange& error) {
        auto ex = co_await asio::this_coro::executor;
        tcp::resolver resolver(ex);
        asio::steady_timer timer(ex);
        timer.expires_after(config.connect_timeout);
        const std::string service = std::to_string(url.port);
        auto raced = co_await (resolver.async_resolve(url.host, service, tuple_awaitable) ||
                               timer.async_wait(tuple_awaitable));
        if (raced.index() == 1) {
            error.failure = http_failure::connect_timeout;
            error.failure_detail = "resolving " + url.host + " timed out";
            co_return nullptr;
        }
        auto [rec, endpoints] = std::get<0>(std::move(raced));
        if (rec) {
            error.failure = http_failure::resolve_failed;
            error.failure_detail = "resolving " + url.host + ": " + rec.message();
            co_return nullptr;
        }
        auto conn = std::make_unique<connection>();
        if (url.tls) {
            conn->tls.emplace(ex, *tls_context);
            error_code addr_ec;
            asio::ip::make_address(url.host, addr_ec);
            if (addr_ec)
                SSL_set_tlsext_host_name(conn->tls->native_handle(), url.host.c_str());  // SNI for names
            conn->tls->set_verify_callback(ssl::host_name_verification(url.host));
        } else {
            conn->plain.emplace(ex);
        }
        auto& low = conn->lowest();
        low.expires_after(config.connect_timeout);
        auto [cec, ep] = co_await low.async_connect(endpoints, tuple_awaitable);
        if (cec) {
            error = failed(cec, true, "connecting");
            co_return nullptr;
        }
        low.socket().set_option(tcp::no_delay(true));
        if (conn->tls) {
            low.expires_after(config.connect_timeout);
            auto [hec] = co_await conn->tls->async_handshake(ssl::stream_base::client, tuple_awaitable);
            if (hec) {
                error = failed(hec, true, "TLS handshake");
                co_return nullptr;
            }
        }
        low.expires_never();
        ++opened;
        co_return conn;
    }

    asio::awaitable<http_exchange> run(http::verb verb, const std::string& target, const header_list& headers,
                                       file_body* body, std::chrono::milliseconds response_timeout) {
        for (int attempt = 0;; ++attempt) {
            auto conn = take_idle();
            if (!conn) {
                http_exchange error;
                conn = co_await connect(error);
                if (!conn) co_return error;
            }
            http::request<http::empty_body> request{verb, target, 11};
            request.set(http::field::host, url.host + ":" + std::to_string(url.port));
            request.set(http::field::user_agent, "labsync-http_put/0.1");
            request.keep_alive(true);
            for (const auto& [name, value] : headers) request.set(name, value);
            if (body) {
                request.content_length(body->size);
                request.set(http::field::expect, "100-continue");
            } else if (verb == http::verb::post || verb == http::verb::patch) {
                request.content_length(0);
            }
            bool keep_alive = false;
            // if/else, not ?: (GCC 12 miscompiles co_await inside a conditional expression).
            http_exchange x;
            if (conn->tls)
                x = co_await exchange_on(*conn->tls, *conn, config, request, body, response_timeout,
                                         keep_alive);
            else
                x = co_await exchange_on(*conn->plain, *conn, config, request, body, response_timeout,
                                         keep_alive);
            // A kept-alive connection the server closed meanwhile fails on first use: open a
            // fresh one once. PUT and GET of a run are idempotent, so repeating is safe; a repeated
            // PATCH at the same offset is answered 409 with the offset, a repeated POST leaves
            // an unused upload that expires.
            if (!x.completed && conn->reused && attempt == 0 && x.failure != http_failure::local_io_error)
                continue;
            if (x.completed && keep_alive) give_back(std::move(conn));
            co_return x;
        }
    }
};

std::unique_ptr<http_client> http_client::create(const parsed_url& url, const http_put_config& config,
                                                 std::string* why) {
    auto p = std::make_unique<impl>();
    p->url = url;
    p->config = config;
    if (url.tls) {
        p->tls_context.emplace(ssl::context::tls_client);
        auto& ctx = *p->tls_context;
        SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
        ctx.set_verify_mode(ssl::verify_peer);
        error_code ec;
        if (!config.ca_file.empty()) {
            ctx.load_verify_file(config.ca_file.string(), ec);
            if (ec) {
                if (why) *why = "cannot load CA file " + config.ca_file.string() + ": " + ec.message();
                return nullptr;
            }
        } else {
            ctx.set_default_verify_paths(ec);
        }
        if (config.client_cert.empty() != config.client_key.empty()) {
            if (why) *why = "a client certificate needs both a certificate file and a key file";
            return nullptr;
        }
        if (!config.client_cert.empty()) {
            ctx.use_certificate_chain_file(config.client_cert.string(), ec);
            if (ec) {
                if (why)
                    *why =
                        "cannot load client certificate " + config.client_cert.string() + ": " + ec.message();
                return nullptr;
            }
            ctx.use_private_key_file(config.client_key.string(), ssl::context::pem, ec);
            if (ec || SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
                if (why)
                    *why = "cannot use client key " + config.client_key.string() + ": " +
                           (ec ? ec.message() : std::string("it does not match the certificate"));
                return nullptr;
            }
        }
    }
    return std::unique_ptr<http_client>(new http_client(std::move(p)));
}

http_client::http_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
http_client::~http_client() = default;

asio::awaitable<http_exchange> http_client::put(const std::string& target, const header_list& headers,
                                                file_body& body, std::chrono::milliseconds response_timeout) {
    co_return co_await impl_->run(http::verb::put, target, headers, &body, response_timeout);
}

asio::awaitable<http_exchange> http_client::get(const std::string& target, const header_list& headers,
                                                std::chrono::milliseconds response_timeout) {
    co_return co_await impl_->run(http::verb::get, target, headers, nullptr, response_timeout);
}

asio::awaitable<http_exchange> http_client::post(const std::string& target, const header_list& headers,
                                                 std::chrono::milliseconds response_timeout) {
    co_return co_await impl_->run(http::verb::post, target, headers, nullptr, response_timeout);
}

asio::awaitable<http_exchange> http_client::head(const std::string& target, const header_list& headers,
                                                 std::chrono::milliseconds response_timeout) {
    co_return co_await impl_->run(http::verb::head, target, headers, nullptr, response_timeout);
}

asio::awaitable<http_exchange> http_client::patch(const std::string& target, const header_list& headers,
                                                  file_body& body,
                                                  std::chrono::milliseconds response_timeout) {
    // An empty part (the completing request of a stream whose last bytes went out before the
    // digest was known) has no body to announce with Expect: 100-continue.
    file_body* sent = body.size > 0 ? &body : nullptr;
    co_return co_await impl_->run(http::verb::patch, target, headers, sent, response_timeout);
}

asio::awaitable<http_exchange> http_client::del(const std::string& target, const header_list& headers,
                                                std::chrono::milliseconds response_timeout) {
    co_return co_await impl_->run(http::verb::delete_, target, headers, nullptr, response_timeout);
}

std::optional<std::string> field_of(const http_exchange& x, std::string_view name) {
    for (const auto& [n, v] : x.headers)
        if (beast::iequals(n, name)) return v;
    return std::nullopt;
}

std::uint64_t http_client::connections_opened() const noexcept {
    return impl_->opened.load();
}

}  // namespace labsync::transports::detail
