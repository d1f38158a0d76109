// Load campaign: uploads from 20 concurrent real clients (curl processes over TLS) while an
// attacker keeps 300 connections open that never send a complete request, against a real
// syncd-receiver with TLS and its default limits (--max-connections 256, --header-timeout 30 s).
// Checked: every upload answered 201 and stored exactly once, byte-identical, nothing else in the
// store; `/healthz` polled from another thread answers every time within 2 s; the receiver's peak
// RSS stays bounded. Uploads: LABSYNC_FAULT_ITERATIONS (default 200), 64–256 KiB random blobs
// with --no-member-check (the member check has its own tests; here the connection handling is
// under test).
#include "fault_env.hpp"
#include "receiver_client.hpp"

#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <thread>

using namespace labsync;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

// The attacker's connections, four kinds (by index % 4):
//   0 TCP only, nothing sent (the receiver waits for a TLS ClientHello)
//   1 TCP, the first 5 bytes of a TLS record announcing a 512-byte ClientHello, then nothing
//   2 TLS handshake completed, no request
//   3 TLS handshake completed, a partial request header ("PUT … HTTP/1.1\r\nHost: t\r\n")
class hostile_pool {
public:
    hostile_pool(int port, std::size_t count) : port_(port), conns_(count) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);  // an attacker does not check
        refill();
    }
    ~hostile_pool() {
        for (auto& c : conns_) drop(c);
        SSL_CTX_free(ctx_);
    }
    hostile_pool(const hostile_pool&) = delete;
    hostile_pool& operator=(const hostile_pool&) = delete;

    // Closes what the receiver closed and opens a new connection in its place.
    void refill() {
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            if (conns_[i].fd >= 0 && !peer_closed(conns_[i])) continue;
            drop(conns_[i]);
            open(conns_[i], i % 4);
        }
    }
    std::size_t open_now() {
        std::size_t n = 0;
        for (auto& c : conns_) n += c.fd >= 0 && !peer_closed(c) ? 1 : 0;
        return n;
    }
    std::size_t opened() const noexcept { return opened_; }

private:
    struct conn {
        int fd = -1;
        SSL* ssl = nullptr;
    };

    void open(conn& c, std::size_t kind) {
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(static_cast<std::uint16_t>(port_));
        if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return drop(c);
        ++opened_;
        if (kind == 1) {
            static const char hello_head[] = {0x16, 0x03, 0x01, 0x02, 0x00};
            if (::send(c.fd, hello_head, sizeof hello_head, MSG_NOSIGNAL) != sizeof hello_head) drop(c);
            return;
        }
        if (kind == 0) return;
        timeval tv{2, 0};  // an evicted handshake must not block the attacker
        ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        c.ssl = SSL_new(ctx_);
        SSL_set_fd(c.ssl, c.fd);
        if (SSL_connect(c.ssl) != 1) return drop(c);
        if (kind == 3) {
            const std::string partial = "PUT /v1/runs/eq1/x HTTP/1.1\r\nHost: t\r\n";
            if (SSL_write(c.ssl, partial.data(), static_cast<int>(partial.size())) <= 0) return drop(c);
        }
    }

    // Non-blocking: true when the receiver closed (EOF, reset, TLS close/alert). A TLS 1.3
    // session ticket is readable data that is not a close.
    bool peer_closed(conn& c) {
        pollfd p{c.fd, POLLIN, 0};
        if (::poll(&p, 1, 0) <= 0) return false;
        char buf[4096];
        if (!c.ssl) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
        }
        timeval tv{0, 1000};
        ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int n = SSL_read(c.ssl, buf, sizeof buf);
        if (n > 0) return false;
        int err = SSL_get_error(c.ssl, n);
        return !(err == SSL_ERROR_WANT_READ ||
                 (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)));
    }

    static void drop(conn& c) {
        if (c.ssl) SSL_free(c.ssl);
        if (c.fd >= 0) ::close(c.fd);
        c = conn{};
    }

    int port_;
    std::vector<conn> conns_;
    SSL_CTX* ctx_ = nullptr;
    std::size_t opened_ = 0;
};

std::string metric_line(const std::string& metrics, const std::string& name) {
    auto at = metrics.find("\n" + name + " ");
    if (at == std::string::npos) return name + " ?";
    return metrics.substr(at + 1, metrics.find('\n', at + 1) - at - 1);
}

}  // namespace

TEST_CASE("load: 20 concurrent uploaders and 300 hostile idle connections, every upload stored once",
          "[fault][load]") {
    const unsigned uploads = fault::env_unsigned("LABSYNC_FAULT_ITERATIONS", 200);
    constexpr unsigned clients = 20;
    constexpr std::size_t hostile = 300;
    test::receiver_fixture rx({.tls = true, .member_check = false});
    const int pid = rx.process().pid();
    const long rss_idle_kb = test::proc_status_kb(pid, "VmRSS");
    test::temp_dir tmp;

    // OpenSSL writes with write(2): a handshake on a connection the receiver just evicted would
    // raise SIGPIPE and kill the test. Ignored while the attacker runs (curl ignores it anyway).
    struct sigpipe_ignored {
        void (*old)(int) = std::signal(SIGPIPE, SIG_IGN);
        ~sigpipe_ignored() { std::signal(SIGPIPE, old); }
    } no_sigpipe;
    hostile_pool attacker(rx.port(), hostile);
    std::atomic<bool> done{false};
    // The attacker re-opens every connection the receiver closed as soon as it sees it closed.
    // Each new one evicts the oldest idle one (the receiver is full), which it re-opens in turn:
    // a constant churn of reconnects, and the receiver holds 256 hostile connections throughout.
    std::thread attack([&] {
        while (!done.load()) {
            std::this_thread::sleep_for(100ms);  // the attacker's pace, not a wait for an event
            attacker.refill();
        }
    });

    // /healthz from another thread: every answer 200 within 2 s (curl's own --max-time 2).
    std::mutex m;
    std::vector<std::string> health_failures;
    std::atomic<unsigned> health_polls{0};
    std::atomic<long> health_max_ms{0};
    std::thread health([&] {
        while (!done.load()) {
            auto t0 = steady::now();
            auto r =
                test::curl(rx.url() + "/healthz", {"--max-time", "2", "--cacert", rx.pki().ca_cert.string()});
            long ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
            health_max_ms = std::max(health_max_ms.load(), ms);
            ++health_polls;
            if (r.status != 200 || ms > 2000) {
                std::lock_guard lock(m);
                health_failures.push_back(std::to_string(r.status) + " after " + std::to_string(ms) +
                                          " ms: " + r.err);
            }
            std::this_thread::sleep_for(50ms);  // a monitoring probe's pace
        }
    });

    // 20 uploaders, each a sequence of curl processes (one connection per upload).
    std::vector<std::string> shas(uploads);
    std::vector<std::string> upload_failures;
    std::atomic<unsigned> next{0};
    std::atomic<long> upload_max_ms{0};
    auto t_start = steady::now();
    std::vector<std::thread> uploaders;
    for (unsigned w = 0; w < clients; ++w) {
        uploaders.emplace_back([&] {
            for (unsigned i = next++; i < uploads; i = next++) {
                std::size_t size = (64 << 10) + (i * 7919) % (192 << 10);  // 64–256 KiB
                auto blob = test::make_blob(tmp / ("blob-" + std::to_string(i)), size, 1000 + i);
                shas[i] = test::sha256_of_file(blob);
                auto t0 = steady::now();
                auto r = test::curl_put(rx, "eq1", "load-" + std::to_string(i), blob, shas[i],
                                        {"--max-time", "30"});
                long ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0).count();
                upload_max_ms = std::max(upload_max_ms.load(), ms);
                if (r.status != 201) {
                    std::lock_guard lock(m);
                    upload_failures.push_back("load-" + std::to_string(i) + ": " + std::to_string(r.status) +
                                              " " + r.body + r.err);
                }
            }
        });
    }
    for (auto& t : uploaders) t.join();
    auto took = std::chrono::duration<double>(steady::now() - t_start).count();
    done = true;
    attack.join();
    health.join();
    const std::size_t hostile_open = attacker.open_now();

    const long hwm_kb = test::proc_status_kb(pid, "VmHWM");
    const long rss_kb = test::proc_status_kb(pid, "VmRSS");
    auto metrics = test::curl(rx.url() + "/metrics", test::tls_args(rx)).body;

    // Every upload stored once, byte-identical, nothing else (no partial, no temp file).
    unsigned identical = 0;
    for (unsigned i = 0; i < uploads; ++i) {
        auto stored = rx.store() / "eq1" / ("load-" + std::to_string(i) + ".tar.zst");
        if (fs::exists(stored) && test::sha256_of_file(stored) == shas[i]) ++identical;
    }
    auto files = test::store_files(rx.store());

    std::printf(
        "load campaign: %u uploads from %u clients in %.1f s, %zu hostile connections held "
        "(%zu opened in all, %zu open at the end); %u/%u stored byte-identical, %zu files in the store; "
        "/healthz %u polls, %zu failed, slowest %ld ms; slowest upload %ld ms; receiver RSS idle %ld kB, "
        "peak %ld kB, end %ld kB; %s; %s\n",
        uploads, clients, took, hostile, attacker.opened(), hostile_open, identical, uploads, files.size(),
        health_polls.load(), health_failures.size(), health_max_ms.load(), upload_max_ms.load(), rss_idle_kb,
        hwm_kb, rss_kb, metric_line(metrics, "labsync_receiver_connections_evicted_total").c_str(),
        metric_line(metrics, "labsync_receiver_connections_refused_total").c_str());

    for (const auto& f : upload_failures) FAIL_CHECK("upload: " << f);
    for (const auto& f : health_failures) FAIL_CHECK("/healthz: " << f);
    CHECK(upload_failures.empty());
    CHECK(identical == uploads);
    CHECK(files.size() == 2 * std::size_t(uploads));  // <run>.tar.zst + <run>.json each
    CHECK(health_failures.empty());
    CHECK(health_polls.load() >= 1);
    // The attacker really held the receiver full: at least --max-connections of its connections
    // were open at the end (the receiver admits the 256 newest; the rest were evicted).
    CHECK(hostile_open >= 200);
    // RSS bound 128 MiB. Expected: the idle process (~11 MiB measured), 256 connections in TLS
    // state (OpenSSL buffers and state, ~30–40 KiB each: ~10 MiB), 20 uploads in flight each with
    // two 1 MiB chunks and a read buffer (~40–50 MiB), plus the malloc arenas of 6 threads.
    // Measured peak (docs/reliability.md): 73–74 MiB for 200 uploads (this form: 1.7× margin),
    // 83–94 MiB for 1,000, 100 MiB for 2,000 (sublinear: allocator high water, not a leak; a leak of
    // ~30 KiB per connection would add 70 MiB over the 2,400 connections of 1,000 uploads).
    CHECK(hwm_kb > 0);
    CHECK(hwm_kb < 128 * 1024);
    CHECK(rx.process().running());
}
