#pragma once
// session<Stream>: one connection's HTTP/1.1 requests. Included only by session_plain.cpp and
// session_tls.cpp, which instantiate it once each (plain TCP, TLS): two translation units that
// compile in parallel instead of one that holds both instantiations.

#include "session.hpp"

#include "labsync/common/on_pool.hpp"
#include "labsync/receiver/body_checker.hpp"
#include "labsync/receiver/body_rate_floor.hpp"
#include "labsync/receiver/publish_checked.hpp"
#include "labsync/receiver/put_decision.hpp"
#include "labsync/receiver/request_rules.hpp"
#include "labsync/receiver/upload_rules.hpp"
#include "labsync/receiver/upload_store.hpp"
#include "labsync/receiver/verify_answer.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <vector>

namespace labsync::receiver {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t chunk_size = 1 << 20;  // large writes to the store, one pool task each
constexpr std::chrono::seconds write_timeout{30};
constexpr std::uint32_t header_limit = 8 * 1024;  // the whole request header (431 beyond)

using response = http::response<http::string_body>;

// Runs `f` on the disk pool and resumes the caller on its own strand.
template <class F>
auto on_disk(receiver_context& ctx, F f) {
    return labsync::common::on_pool(ctx.disk.get_executor(), std::move(f));
}

response make_response(http::status status, unsigned version, std::string body, bool keep_alive,
                       std::string_view type = "application/json") {
    response res{status, version};
    res.set(http::field::server, "syncd-receiver");
    res.set(http::field::content_type, type);
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

response error_response(int status, unsigned version, std::string_view error, std::string_view message,
                        bool keep_alive) {
    return make_response(static_cast<http::status>(status), version, error_json(error, message), keep_alive);
}

template <class Stream>
class session {
public:
    session(receiver_context& ctx, Stream& stream, std::string peer, std::vector<std::string> cert_names,
            std::shared_ptr<connection_control> control)
        : ctx_(ctx),
          stream_(stream),
          peer_(std::move(peer)),
          cert_names_(std::move(cert_names)),
          control_(std::move(control)) {}

    awaitable<void> run() {
        for (;;) {
            if (ctx_.stopping.load()) co_return;
            http::request_parser<http::empty_body> parser;
            parser.header_limit(header_limit);
            parser.body_limit(boost::none);  // the PUT path applies --max-body itself (413)
            control_->busy = false;
            lowest().expires_after(ctx_.config.header_timeout);
            auto ec = co_await read_header(parser);
            if (ec) {
                co_await on_read_error(ec, parser.get().version());
                co_return;
            }
            control_->busy = true;
            bool keep = co_await dispatch(parser);
            if (!keep) co_return;
        }
    }

private:
    beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

    // Reads one request header into `parser`, at most `header_limit` bytes in total. Beast's own
    // header_limit bounds one parse call, not the header: 10 MiB of empty fields sent at once were
    // all parsed and kept (~200 MB for one unauthenticated connection). So the parser is fed here,
    // never more than what is left of the limit.
    awaitable<beast::error_code> read_header(http::request_parser<http::empty_body>& parser) {
        std::size_t taken = 0;
        for (;;) {
            if (buffer_.size() > 0) {
                std::size_t offer = std::min(buffer_.size(), std::size_t{header_limit} - taken);
                if (offer == 0) co_return http::error::header_limit;
                beast::error_code ec;
                auto data = buffer_.data();
                std::size_t used = parser.put(asio::buffer(data.data(), offer), ec);
                buffer_.consume(used);
                taken += used;
                if (parser.is_header_done()) co_return beast::error_code{};
                if (ec && ec != http::error::need_more) co_return ec;
                if (taken + buffer_.size() >= header_limit) co_return http::error::header_limit;
            }
            auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(64 * 1024), use_tuple);
            buffer_.commit(n);
            if (ec == asio::error::eof)
                co_return taken + buffer_.size() == 0 ? http::error::end_of_stream
                                                      : http::error::partial_message;
            if (ec) co_return ec;
        }
    }

    awaitable<void> on_read_error(beast::error_code ec, unsigned version) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
            ec == asio::error::operation_aborted || ec == asio::error::connection_reset) {
            if (ec == beast::error::timeout)
                ctx_.log->info("{}: closed, no complete request header in time", peer_);
            co_return;
        }
        int status = ec == http::error::header_limit ? 431 : 400;
        ctx_.log->info("{}: unparseable request: {}", peer_, ec.message());
        auto res = error_response(
            status, version == 10 ? 10 : 11, status == 431 ? "header_too_large" : "bad_request",
            status == 431 ? "request header exceeds 8 KiB" : "malformed HTTP request: " + ec.message(),
            false);
        ctx_.stats.count_request("-", status);
        co_await send(res);
    }

    awaitable<bool> send(response& res) {
        lowest().expires_after(write_timeout);
        auto [ec, n] = co_await http::async_write(stream_, res, use_tuple);
        co_return !ec;
    }

    // Sends the final response; when the request body was not read the connection must close
    // after it, so half-close and drain briefly to let the client read the answer.
    awaitable<bool> finish(const http::request<http::empty_body>& req, response res, bool body_consumed) {
        bool keep = body_consumed && req.keep_alive() && !ctx_.stopping.load();
        res.keep_alive(keep);
        ctx_.stats.count_request(std::string(req.method_string()), res.result_int());
        bool sent = co_await send(res);
        if (!sent) co_return false;
        if (!keep) co_await linger();
        co_return keep;
    }

    awaitable<void> linger() {
        beast::error_code ignored;
        if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
            lowest().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
        } else {
            lowest().expires_after(std::chrono::seconds(1));
            co_await stream_.async_shutdown(use_tuple);
        }
        // Drop what the client still sends (bounded): closing must not reset before it reads our answer.
        std::vector<char> sink(64 * 1024);
        std::size_t dropped = 0;
        lowest().expires_after(std::chrono::seconds(2));
        while (dropped < (16u << 20)) {
            auto [ec, n] = co_await lowest().async_read_some(asio::buffer(sink), use_tuple);
            if (ec) break;
            dropped += n;
        }
    }

    awaitable<bool> dispatch(http::request_parser<http::empty_body>& parser) {
        auto& req = parser.get();
        bool no_body = !parser.chunked() && parser.content_length().value_or(0) == 0;
        route r = parse_route(req.target());
        const unsigned v = req.version();
        auto method_not_allowed = [&](std::string_view allow) {
            auto res = error_response(
                405, v, "method_not_allowed",
                std::string(req.method_string()) + " is not allowed here; use " + std::string(allow), true);
            res.set(http::field::allow, allow);
            return res;
        };
        if (auto id = upload_target(req.target()))
            co_return co_await upload_request(parser, std::string(*id));
        switch (r.kind) {
            case route_kind::not_found:
                co_return co_await finish(req, error_response(404, v, "not_found", "no such resource", true),
                                          no_body);
            case route_kind::healthz:
                if (req.method() != http::verb::get)
                    co_return co_await finish(req, method_not_allowed("GET"), no_body);
                co_return co_await finish(
                    req, make_response(http::status::ok, v, "{\"status\":\"ok\"}\n", true), no_body);
            case route_kind::metrics: {
                if (req.method() != http::verb::get)
                    co_return co_await finish(req, method_not_allowed("GET"), no_body);
                auto free = co_await on_disk(ctx_, [this] { return ctx_.store.free_bytes(); });
                co_return co_await finish(req,
                                          make_response(http::status::ok, v, ctx_.stats.render(free), true,
                                                        "text/plain; version=0.0.4"),
                                          no_body);
            }
            case route_kind::ping: {
                if (req.method() != http::verb::post)
                    co_return co_await finish(req, method_not_allowed("POST"), no_body);
                if (!r.ids_valid)  // `?equipment=E`: the credentials must grant E (syncd doctor)
                    co_return co_await finish(req, error_response(400, v, "bad_id", r.id_error, true),
                                              no_body);
                auto auth = r.equipment.empty() ? authorize_any(req) : authorize_for(req, r.equipment);
                if (auth.outcome != auth_outcome::granted)
                    co_return co_await finish(req, auth_error(auth, v), no_body);
                co_return co_await finish(
                    req, make_response(http::status::ok, v, "{\"status\":\"ok\"}\n", true), no_body);
            }
            case route_kind::run:
                if (req.method() == http::verb::put) co_return co_await put(parser);
                if (req.method() == http::verb::get) co_return co_await get(req, r, no_body);
                // POST with Upload-Complete creates a resumable upload (session_upload.ipp).
                if (req.method() == http::verb::post && req.count("Upload-Complete") > 0)
                    co_return co_await upload_create(parser, r);
                co_return co_await finish(req, method_not_allowed("GET, PUT"), no_body);
        }
        co_return false;
    }

    std::optional<std::string_view> header(const http::request<http::empty_body>& req,
                                           std::string_view name) {
        auto it = req.find(name);
        if (it == req.end()) return std::nullopt;
        return std::string_view(it->value().data(), it->value().size());
    }

    auth_decision authorize_for(const http::request<http::empty_body>& req, std::string_view equipment) {
        const auto& c = ctx_.config;
        return note_granted(authorize(c.tokens ? &*c.tokens : nullptr, c.insecure_no_auth,
                                      header(req, "Authorization"), cert_names_, equipment));
    }

    // A connection that was granted once is no longer a candidate for eviction at
    // --max-connections (connection_registry::evict_one_unauthenticated).
    auth_decision note_granted(auth_decision d) {
        if (d.outcome == auth_outcome::granted) control_->authenticated = true;
        return d;
    }

    // Ping without `?equipment=`: any granted equipment will do; a token's pattern is not checked.
    auth_decision authorize_any(const http::request<http::empty_body>& req) {
        const auto& c = ctx_.config;
        if (c.tokens) {
            auto d = c.tokens->check(header(req, "Authorization"), "");
            if (d.outcome == auth_outcome::forbidden) return note_granted({auth_outcome::granted, {}});
            if (d.outcome == auth_outcome::granted || cert_names_.empty()) return note_granted(d);
        }
        if (!cert_names_.empty() || c.insecure_no_auth) return note_granted({auth_outcome::granted, {}});
        return {auth_outcome::missing, {}};
    }

    response auth_error(const auth_decision& d, unsigned v) {
        put_facts f;
        f.auth = d.outcome;
        auto verdict = decide_put(f, nullptr);
        auto res = error_response(verdict.status, v, verdict.error, verdict.message, true);
        if (verdict.status == 401) res.set(http::field::www_authenticate, "Bearer");
        return res;
    }

    awaitable<bool> get(const http::request<http::empty_body>& req, const route& r, bool no_body) {
        const unsigned v = req.version();
        if (!r.ids_valid)
            co_return co_await finish(req, error_response(400, v, "bad_id", r.id_error, true), no_body);
        auto auth = authorize_for(req, r.equipment);
        if (auth.outcome != auth_outcome::granted)
            co_return co_await finish(req, auth_error(auth, v), no_body);
        if (r.verify) {
            auto res = co_await verify(r, v);
            co_return co_await finish(req, std::move(res), no_body);
        }
        auto [stored, ec] = co_await on_disk(ctx_, [&] {
            std::error_code e;
            auto s = ctx_.store.lookup(r.equipment, r.run, e);
            return std::pair{s, e};
        });
        if (ec) {
            ctx_.log->error("lookup {}/{}: {}", r.equipment, r.run, ec.message());
            co_return co_await finish(
                req, error_response(500, v, "store_error", "cannot read the store", true), no_body);
        }
        if (!stored)
            co_return co_await finish(req, error_response(404, v, "not_found", "no such run", true), no_body);
        nlohmann::json j{
            {"sha256", stored->sha256}, {"bytes", stored->bytes}, {"stored_at", stored->stored_at}};
        co_return co_await finish(req, make_response(http::status::ok, v, j.dump() + "\n", true), no_body);
    }

    // Re-reads the stored archive of `r` on the disk pool while holding one of ctx_.verify_slots
    // (at most its capacity at once; the others wait for a slot).
    awaitable<std::pair<verify_report, std::error_code>> rehash(const route& r) {
        auto [busy] = co_await ctx_.verify_slots->async_send(boost::system::error_code{}, use_tuple);
        if (busy) co_return std::pair{verify_report{verify_outcome::cancelled, {}, {}, 0}, std::error_code{}};
        struct slot {
            receiver_context& ctx;
            ~slot() {
                ctx.verify_slots->try_receive([](boost::system::error_code) {});
            }
        } held{ctx_};
        co_return co_await on_disk(ctx_, [&] {
            std::error_code e;
            auto rep = ctx_.store.verify(r.equipment, r.run, &ctx_.stopping, e);
            return std::pair{rep, e};
        });
    }

    // GET ?verify=1: answer from the stored bytes re-hashed now, not from the sidecar.
    awaitable<response> verify(const route& r, unsigned v) {
        auto [report, ec] = co_await rehash(r);
        auto answer = answer_verify(report, ec, r.equipment + "/" + r.run);
        if (answer.counted) ctx_.stats.count_verify(answer.mismatch);
        if (!answer.log_error.empty()) ctx_.log->error("{}", answer.log_error);
        co_return make_response(static_cast<http::status>(answer.status), v, std::move(answer.body), true);
    }

    // Reads up to `want` body bytes into `buf` (after `filled` already there).
    // A body slower than --min-body-rate over a --body-timeout window ends with timed_out.
    awaitable<std::pair<beast::error_code, std::size_t>> read_chunk(std::vector<std::byte>& buf,
                                                                    std::size_t filled, std::size_t want,
                                                                    body_rate_floor& floor) {
        while (filled < want) {
            lowest().expires_after(ctx_.config.body_timeout);
            auto [ec, n] =
                co_await stream_.async_read_some(asio::buffer(buf.data() + filled, want - filled), use_tuple);
            filled += n;
            if (ec) co_return std::pair{ec, filled};
            if (!floor.on_bytes(body_rate_floor::clock::now(), n)) {
                ctx_.log->info("{}: body slower than --min-body-rate {} B/s; closing", peer_,
                               ctx_.config.min_body_rate);
                co_return std::pair{beast::error_code(asio::error::timed_out), filled};
            }
        }
        co_return std::pair{beast::error_code{}, filled};
    }

    // Writes a chunk and feeds the checker in parallel on the disk pool. A checker error does
    // not stop the upload: the body is still read (the client gets its 422 on a live
    // connection) and finish() reports the first error.
    template <class File>  // upload_file (PUT) or upload_handle (resumable uploads)
    awaitable<std::error_code> store_chunk(File& file, body_checker* checker,
                                           const std::vector<std::byte>& buf, std::size_t n) {
        std::span<const std::byte> data(buf.data(), n);
        auto write = on_disk(ctx_, [&file, data] { return file.append(data); });
        if (checker == nullptr) co_return co_await std::move(write);
        auto check = on_disk(ctx_, [checker, data] {
            checker->feed(data);
            return 0;
        });
        auto [ec, ignored] = co_await (std::move(write) && std::move(check));
        co_return ec;
    }

    awaitable<bool> put(http::request_parser<http::empty_body>& parser);

    // Resumable uploads (session_upload.ipp).
    awaitable<bool> upload_create(http::request_parser<http::empty_body>& parser, const route& r);
    awaitable<bool> upload_request(http::request_parser<http::empty_body>& parser, std::string id);
    awaitable<bool> upload_append(http::request_parser<http::empty_body>& parser, upload_handle& up,
                                  const append_request& ar, std::optional<std::string> location);
    response upload_answer(int status, unsigned v, const upload_state& s, std::string body);

    receiver_context& ctx_;
    Stream& stream_;
    std::string peer_;
    std::vector<std::string> cert_names_;
    std::shared_ptr<connection_control> control_;
    beast::flat_buffer buffer_;
};

}  // namespace
}  // namespace labsync::receiver

#include "session_put.ipp"
#include "session_upload.ipp"
