// rclone_daemon: `rclone rcd` on a private thread, calls over loopback HTTP (see rclone_daemon.hpp).
#include "rclone_daemon.hpp"

#include "labsync/transports/classify_rclone.hpp"
#include "labsync/transports/rclone_rc.hpp"
#include "labsync/transports/subprocess.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>

#include <fmt/format.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace labsync::transports::detail {
namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string basic_auth(const std::string& user, const std::string& pass) {
    const std::string plain = user + ":" + pass;
    std::string out(beast::detail::base64::encoded_size(plain.size()), '\0');
    out.resize(beast::detail::base64::encode(out.data(), plain.data(), plain.size()));
    return "Basic " + out;
}

// One started daemon. Touched only on the private thread.
struct instance {
    explicit instance(const asio::any_io_executor& ex) : announced(ex), idle(ex) {}
    std::uint64_t generation = 0;
    const std::string user = random_hex(16);
    const std::string pass = random_hex(32);
    std::string port;  // set when rclone announced its remote control
    bool exited = false;
    subprocess_result result;
    asio::steady_timer announced;  // cancelled when the port is known or the daemon exited
    asio::steady_timer idle;       // stop_when_idle's; cancelled when the daemon exited
    asio::cancellation_signal stop;
};

// Where to send calls: a copy handed to the caller's executor.
struct endpoint {
    transport_result status;
    std::uint16_t port = 0;
    std::string authorization;
    std::uint64_t generation = 0;
};

struct post_outcome {
    rc_answer answer;
    // No answer at all: refused, or the connection reset or closed before any byte of an answer
    // (a daemon killed or dying). The daemon is then stopped and the call sent once more to a new
    // one: every call the driver makes can be repeated (listing, stats, bwlimit; sync makes the
    // staging directory identical again; a repeated move of a moved run fails and is judged by
    // the engine's next attempt).
    bool lost = false;
};

asio::awaitable<post_outcome> post_json(const endpoint& ep, const std::string& method,
                                        const std::string& body, std::chrono::milliseconds timeout) {
    post_outcome out;
    auto fail = [&](const std::string& what, const boost::system::error_code& ec) {
        out.answer.timed_out = ec == beast::error::timeout;
        out.answer.status = transport_result::failure(
            error_kind::network,
            fmt::format("rclone rc {} on 127.0.0.1:{}: {}: {}", method, ep.port, what,
                        ec == beast::error::timeout ? fmt::format("no answer within {} ms", timeout.count())
                                                    : ec.message()));
        return out;
    };
    beast::tcp_stream stream(co_await asio::this_coro::executor);
    if (timeout.count() > 0) stream.expires_after(timeout);
    const asio::ip::tcp::endpoint where(asio::ip::address_v4::loopback(), ep.port);
    auto [connect_ec] = co_await stream.async_connect(where, use_tuple);
    if (connect_ec) {
        out.lost = connect_ec == asio::error::connection_refused;
        co_return fail("cannot connect", connect_ec);
    }
    http::request<http::string_body> req{http::verb::post, "/" + method, 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::authorization, ep.authorization);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(false);
    req.body() = body;
    req.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, req, use_tuple);
    if (write_ec) {
        out.lost = write_ec == asio::error::connection_reset || write_ec == asio::error::broken_pipe;
        co_return fail("cannot send the call", write_ec);
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::uint64_t{256} << 20);  // listings with hashes: ~150 bytes per file
    auto [read_ec, read] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (read_ec) {
        out.lost = buffer.size() == 0 && !parser.got_some() &&
                   (read_ec == asio::error::connection_reset || read_ec == http::error::end_of_stream ||
                    read_ec == asio::error::eof);
        co_return fail("no answer", read_ec);
    }
    auto res = parser.release();
    out.answer.status = transport_result::success();
    out.answer.http_status = static_cast<int>(res.result_int());
    out.answer.body = std::move(res.body());
    co_return out;
}

}  // namespace

std::string random_hex(std::size_t bytes) {
    std::random_device rd;
    std::string out;
    for (std::size_t i = 0; i < bytes; ++i) out += fmt::format("{:02x}", rd() & 0xff);
    return out;
}

struct rclone_daemon::impl : std::enable_shared_from_this<impl> {
    explicit impl(rclone_config c) : config(std::move(c)) {}

    rclone_config config;
    asio::io_context io;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
    std::once_flag thread_started;
    // Calls under way and the end of the last one (any thread).
    std::atomic<int> in_flight{0};
    std::atomic<std::chrono::steady_clock::rep> last_used{0};
    // Private thread only:
    std::shared_ptr<instance> current;
    std::uint64_t generations = 0;

    void touch() { last_used = std::chrono::steady_clock::now().time_since_epoch().count(); }

    // Stops `inst` once it has served no call for config.daemon_idle (a lab with many idle
    // destinations keeps no rclone process per destination); the next call starts a new one.
    asio::awaitable<void> stop_when_idle(std::shared_ptr<instance> inst) {
        auto self = shared_from_this();
        const std::chrono::steady_clock::duration idle_stop = config.daemon_idle;
        auto& timer = inst->idle;
        while (!inst->exited && current == inst) {
            const auto idle =
                std::chrono::steady_clock::now() -
                std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(last_used));
            if (in_flight == 0 && idle >= idle_stop) {
                inst->stop.emit(asio::cancellation_type::terminal);
                current.reset();
                co_return;
            }
            timer.expires_after(idle_stop - std::min<std::chrono::steady_clock::duration>(idle, idle_stop) +
                                std::chrono::milliseconds(10));
            co_await timer.async_wait(use_tuple);
        }
    }

    void start_thread() {
        std::call_once(thread_started, [this] {
            work.emplace(io.get_executor());
            thread = std::thread([this] { io.run(); });
        });
    }

    // Runs the daemon until it exits or is stopped (its process group is then killed).
    static asio::awaitable<void> watch(std::shared_ptr<instance> inst, subprocess_options options) {
        try {
            inst->result = co_await run_subprocess(std::move(options));
        } catch (const std::exception& e) {
            inst->result.status = subprocess_result::outcome::signaled;
            inst->result.message = std::string("rclone rcd stopped: ") + e.what();
        }
        inst->exited = true;
        inst->announced.cancel();
        inst->idle.cancel();
    }

    void start(const std::string& equipment) {
        auto inst = std::make_shared<instance>(io.get_executor());
        inst->generation = ++generations;
        subprocess_options o;
        o.argv = rclone_rcd_argv(config);
        o.equipment = equipment;
        o.path_env = config.path_env;
        o.env = {{"RCLONE_RC_USER", inst->user}, {"RCLONE_RC_PASS", inst->pass}};
        o.on_stderr_line = [weak = std::weak_ptr<instance>(inst)](std::string_view line) {
            auto i = weak.lock();
            if (!i || !i->port.empty()) return;
            if (auto url = parse_rclone_rc_url(line))
                if (auto port = rc_url_port(*url)) {
                    i->port = std::move(*port);
                    i->announced.cancel();
                }
        };
        asio::co_spawn(io, watch(inst, std::move(o)),
                       asio::bind_cancellation_slot(inst->stop.slot(), asio::detached));
        touch();
        current = inst;  // before the spawn: it may start at once (dispatch) and checks `current`
        asio::co_spawn(io, stop_when_idle(std::move(inst)), asio::detached);
    }

    static transport_result start_failure(const instance& inst, std::chrono::milliseconds waited) {
        const auto& r = inst.result;
        using o = subprocess_result::outcome;
        if (!inst.exited)
            return transport_result::failure(
                error_kind::network,
                fmt::format("rclone rcd did not announce its remote control within {} ms", waited.count()));
        if (r.status == o::binary_missing)
            return transport_result::failure(error_kind::binary_missing, r.message);
        if (r.status != o::exited) return transport_result::failure(error_kind::unknown, r.message);
        auto messages = rclone_error_messages(r.stderr_tail);
        auto out = transport_result::failure(
            classify_rclone(r.exit_code == 0 ? 1 : r.exit_code, r.stderr_tail),
            fmt::format("rclone rcd exited (code {}) before serving: {}", r.exit_code,
                        messages.empty() ? "no error message" : messages.back()),
            r.exit_code);
        out.stderr_text = r.stderr_tail;
        return out;
    }

    // The endpoint of a running daemon, starting one when none runs. Private thread.
    asio::awaitable<endpoint> ensure(std::string equipment) {
        auto self = shared_from_this();
        if (!current || current->exited) start(equipment);
        auto inst = current;
        const auto budget =
            config.command_timeout.count() > 0 ? config.command_timeout : std::chrono::milliseconds(60'000);
        const auto deadline = std::chrono::steady_clock::now() + budget;
        while (inst->port.empty() && !inst->exited && std::chrono::steady_clock::now() < deadline) {
            inst->announced.expires_at(deadline);
            co_await inst->announced.async_wait(use_tuple);
        }
        endpoint ep;
        if (inst->port.empty() || inst->exited) {
            ep.status = start_failure(*inst, budget);
            if (!inst->exited) inst->stop.emit(asio::cancellation_type::terminal);
            if (current == inst) current.reset();
            co_return ep;
        }
        ep.status = transport_result::success();
        ep.port = static_cast<std::uint16_t>(std::stoi(inst->port));
        ep.authorization = basic_auth(inst->user, inst->pass);
        ep.generation = inst->generation;
        co_return ep;
    }

    // The caller could not connect to `generation`: stop it (if it still runs) and forget it.
    asio::awaitable<void> forget(std::uint64_t generation) {
        auto self = shared_from_this();
        if (current && current->generation == generation) {
            if (!current->exited) current->stop.emit(asio::cancellation_type::terminal);
            current.reset();
        }
        co_return;
    }
};

rclone_daemon::rclone_daemon(const rclone_config& config) : impl_(std::make_shared<impl>(config)) {}

rclone_daemon::~rclone_daemon() {
    if (!impl_->thread.joinable()) return;
    // Stop the daemon by PID (run_subprocess kills its process group and reaps it); the private
    // io_context then runs out of work and its thread ends.
    asio::post(impl_->io, [impl = impl_] {
        if (impl->current && !impl->current->exited)
            impl->current->stop.emit(asio::cancellation_type::terminal);
    });
    impl_->work.reset();
    impl_->thread.join();
}

asio::awaitable<rc_answer> rclone_daemon::call(std::string method, std::string body,
                                               const std::string& equipment,
                                               std::chrono::milliseconds timeout) {
    impl_->start_thread();
    struct in_flight_guard {
        impl& i;
        explicit in_flight_guard(impl& x) : i(x) { ++i.in_flight; }
        ~in_flight_guard() {
            i.touch();
            --i.in_flight;
        }
        in_flight_guard(const in_flight_guard&) = delete;
        in_flight_guard& operator=(const in_flight_guard&) = delete;
    } guard(*impl_);
    for (int attempt = 0;; ++attempt) {
        auto ep = co_await asio::co_spawn(impl_->io, impl_->ensure(equipment), asio::use_awaitable);
        if (!ep.status.ok) {
            rc_answer failed;
            failed.status = std::move(ep.status);
            co_return failed;
        }
        auto out = co_await post_json(ep, method, body, timeout);
        if (!out.lost || attempt > 0) co_return std::move(out.answer);
        co_await asio::co_spawn(impl_->io, impl_->forget(ep.generation), asio::use_awaitable);
    }
}

void rclone_daemon::call_detached(std::string method, std::string body) {
    if (!impl_->thread.joinable()) return;
    auto send = [](std::shared_ptr<impl> self, std::string m, std::string b) -> asio::awaitable<void> {
        if (!self->current || self->current->exited || self->current->port.empty()) co_return;
        endpoint ep;
        ep.port = static_cast<std::uint16_t>(std::stoi(self->current->port));
        ep.authorization = basic_auth(self->current->user, self->current->pass);
        co_await post_json(ep, m, b, self->config.command_timeout);
    };
    asio::co_spawn(impl_->io, send(impl_, std::move(method), std::move(body)), asio::detached);
}

}  // namespace labsync::transports::detail
