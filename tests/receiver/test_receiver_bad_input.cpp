// Table-driven bad input against the real receiver over raw sockets: every row is one request no
// correct client sends, and the status the receiver must answer with (before reading any body).
#include "receiver_client.hpp"

#include <catch2/catch.hpp>

using namespace labsync::test;

namespace {

const std::string good_sha(64, 'a');
const std::string eq1_token = receiver_options::eq1_token;

struct row {
    const char* name;
    std::string request;
    int status;
};

std::string put(const std::string& target, const std::string& headers, std::size_t length = 10) {
    return "PUT " + target + " HTTP/1.1\r\nHost: t\r\n" + headers +
           "Content-Length: " + std::to_string(length) + "\r\nConnection: close\r\n\r\n";
}
std::string auth(const std::string& token = eq1_token) {
    return "Authorization: Bearer " + token + "\r\n";
}
std::string sha(const std::string& value = good_sha) {
    return "X-Content-SHA256: " + value + "\r\n";
}
std::string good_put(const std::string& target) {
    return put(target, auth() + sha());
}
std::string req(const std::string& method, const std::string& target, const std::string& headers = "") {
    return method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + headers + "Connection: close\r\n\r\n";
}

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

std::vector<row> rows() {
    std::string e65(65, 'e'), r129(129, 'r'), m4000(4000, 'M');
    return {
        // ids (SPEC §3) → 400
        {"space escaped in equipment", good_put("/v1/runs/eq%201/r1"), 400},
        {"equipment .", good_put("/v1/runs/./r1"), 400},
        {"equipment ..", good_put("/v1/runs/../r1"), 400},
        {"run .", good_put("/v1/runs/eq1/."), 400},
        {"run ..", good_put("/v1/runs/eq1/.."), 400},
        {"equipment of 65 chars", good_put("/v1/runs/" + e65 + "/r1"), 400},
        {"run of 129 chars", good_put("/v1/runs/eq1/" + r129), 400},
        {"extra path segment", good_put("/v1/runs/eq1/r1/x"), 400},
        {"empty run", good_put("/v1/runs/eq1/"), 400},
        {"empty equipment", good_put("/v1/runs//r1"), 400},
        {"run with colon", good_put("/v1/runs/eq1/r:1"), 400},
        {"run with backslash", good_put("/v1/runs/eq1/r\\1"), 400},
        {"run with plus", good_put("/v1/runs/eq1/r+1"), 400},
        {"GET with bad id", req("GET", "/v1/runs/eq1/..", auth()), 400},
        // routes and methods → 404/405
        {"no run segment", good_put("/v1/runs/eq1"), 404},
        {"unknown path", req("GET", "/v1/nothing"), 404},
        {"root", req("GET", "/"), 404},
        {"v2 api", good_put("/v2/runs/eq1/r1"), 404},
        {"DELETE a run", req("DELETE", "/v1/runs/eq1/r1", auth()), 405},
        {"POST a run", req("POST", "/v1/runs/eq1/r1", auth()), 405},
        {"GET ping", req("GET", "/v1/ping", auth()), 405},
        {"PUT healthz", req("PUT", "/healthz"), 405},
        {"POST metrics", req("POST", "/metrics"), 405},
        // auth → 401/403
        {"no Authorization", put("/v1/runs/eq1/r1", sha()), 401},
        {"Basic auth", put("/v1/runs/eq1/r1", "Authorization: Basic dXNlcjpwYXNz\r\n" + sha()), 401},
        {"empty bearer", put("/v1/runs/eq1/r1", "Authorization: Bearer \r\n" + sha()), 401},
        {"unknown token", put("/v1/runs/eq1/r1", auth("tok-unknown-0123456789abcdef") + sha()), 401},
        {"token with one char changed", put("/v1/runs/eq1/r1", auth("tok-eq1-0123456789abcdeF") + sha()),
         401},
        {"token prefix only", put("/v1/runs/eq1/r1", auth("tok-eq1-0123456789") + sha()), 401},
        {"eq1 token for eq2", put("/v1/runs/eq2/r1", auth() + sha()), 403},
        {"lab-* token for eq1", put("/v1/runs/eq1/r1", auth(receiver_options::lab_token) + sha()), 403},
        {"GET other equipment", req("GET", "/v1/runs/eq2/r1", auth()), 403},
        {"GET without token", req("GET", "/v1/runs/eq1/r1"), 401},
        {"ping without token", req("POST", "/v1/ping"), 401},
        // length → 411
        {"no Content-Length",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() + "Connection: close\r\n\r\n", 411},
        {"chunked body",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() +
             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
         411},
        // headers → 400
        {"no X-Content-SHA256", put("/v1/runs/eq1/r1", auth()), 400},
        {"uppercase sha", put("/v1/runs/eq1/r1", auth() + sha(std::string(64, 'A'))), 400},
        {"sha of 63 digits", put("/v1/runs/eq1/r1", auth() + sha(std::string(63, 'a'))), 400},
        {"sha of 65 digits", put("/v1/runs/eq1/r1", auth() + sha(std::string(65, 'a'))), 400},
        {"sha with non-hex", put("/v1/runs/eq1/r1", auth() + sha(std::string(63, 'a') + "g")), 400},
        {"sha base64", put("/v1/runs/eq1/r1", auth() + sha("q83vq83vq83vq83vq83vq83vq83vq83vq83vq83vq80=")),
         400},
        {"two sha headers", put("/v1/runs/eq1/r1", auth() + sha() + sha()), 400},
        {"commit not hex", put("/v1/runs/eq1/r1", auth() + sha() + "X-Code-Commit: main\r\n"), 400},
        {"commit too short", put("/v1/runs/eq1/r1", auth() + sha() + "X-Code-Commit: abc12\r\n"), 400},
        {"commit too long",
         put("/v1/runs/eq1/r1", auth() + sha() + "X-Code-Commit: " + std::string(65, 'a') + "\r\n"), 400},
        // size → 413 (--max-body 1M)
        {"body over --max-body", put("/v1/runs/eq1/r1", auth() + sha(), (1 << 20) + 1), 413},
        {"body of 1 TiB", put("/v1/runs/eq1/r1", auth() + sha(), 1ULL << 40), 413},
        // HTTP syntax → 400/431
        {"Content-Length not a number",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() + "Content-Length: ten\r\n\r\n", 400},
        {"two different Content-Length",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() +
             "Content-Length: 1\r\nContent-Length: 2\r\n\r\n",
         400},
        {"negative Content-Length",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() + "Content-Length: -1\r\n\r\n", 400},
        {"garbage request line", "HELLO\r\n\r\n", 400},
        {"HTTP/2.0 request line", "GET /healthz HTTP/2.0\r\n\r\n", 400},
        {"header without colon", "GET /healthz HTTP/1.1\r\nHost t\r\n\r\n", 400},
        {"header over 8 KiB", req("GET", "/healthz", "X-Pad: " + std::string(9000, 'p') + "\r\n"), 431},
        {"control char in header", "GET /healthz HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", 400},
        // attacks (issue 14): unknown methods of any length are counted under `other`
        {"4000-char method on a known path", req(m4000, "/healthz"), 405},
        {"4000-char method on a run", req(m4000, "/v1/runs/eq1/r1", auth()), 405},
        {"4000-char method on an unknown path", req(m4000, "/nothing"), 404},
        {"method over 8 KiB", req(std::string(9000, 'M'), "/healthz"), 431},
        {"lowercase method", req("get", "/healthz"), 405},
        {"method with a slash", req("G/ET", "/healthz"), 400},
        // absurd headers: 8 KiB is the whole header, however it is split into fields
        {"3000 empty header fields (12 KB)", "GET /healthz HTTP/1.1\r\n" + repeat("a:\r\n", 3000) + "\r\n",
         431},
        {"header name of 7000 chars", req("GET", "/healthz", std::string(7000, 'h') + ": v\r\n"), 200},
        {"help header", req("GET", "/healthz", "help: true\r\nX-Help: --help\r\n"), 200},
        {"Content-Length overflowing 64 bits",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() +
             "Content-Length: 99999999999999999999999\r\n\r\n",
         400},
        {"Transfer-Encoding and Content-Length",
         "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth() + sha() +
             "Transfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n",
         400},
        {"bearer token of 7000 chars", put("/v1/runs/eq1/r1", auth(std::string(7000, 't')) + sha()), 401},
        {"HTTP/0.9 request", "GET /healthz\r\n\r\n", 400},
    };
}

}  // namespace

TEST_CASE("bad input is refused with the right status before the body is read", "[receiver][bad-input]") {
    receiver_fixture rx({.extra_args = {"--max-body", "1M"}});
    auto table = rows();
    REQUIRE(table.size() >= 40);
    for (const auto& r : table) {
        std::string response;
        int status = raw_status(rx.port(), r.request, &response);
        INFO("row: " << r.name << "\nresponse: " << response.substr(0, 300));
        CHECK(status == r.status);
        if (status >= 400) {
            // Every error body is the small JSON {error, message}.
            CHECK(response.find("application/json") != std::string::npos);
        }
    }
    // Nothing reached the store, not even a temp file.
    CHECK(store_files(rx.store()).empty());
    CHECK(rx.process().running());
    // The long methods were counted under `other`: /metrics stays small and names none of them.
    auto metrics = curl(rx.url() + "/metrics", {}).body;
    CHECK(metrics.find("method=\"other\",code=\"405\"") != std::string::npos);
    CHECK(metrics.find("MMMM") == std::string::npos);
    CHECK(metrics.size() < 8192);
}

TEST_CASE("a partial header that stalls is closed by --header-timeout", "[receiver][bad-input]") {
    receiver_fixture rx({.extra_args = {"--header-timeout", "0.5"}});
    const std::vector<std::string> partial{
        "",  // connected, nothing sent
        "GET /heal",
        "GET /healthz HTTP/1.1\r\n",
        "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: t\r\n" + auth(),
        "GET /healthz HTTP/1.1\r\nX-Long: " + std::string(4000, 'x'),
    };
    for (const auto& p : partial) {
        INFO("sent: " << p.substr(0, 60));
        raw_conn c(rx.port());
        auto t0 = std::chrono::steady_clock::now();
        REQUIRE(c.send(p));
        CHECK(c.wait_closed(std::chrono::seconds(10)));
        auto took = std::chrono::steady_clock::now() - t0;
        CHECK(took >= std::chrono::milliseconds(400));  // not before the timeout…
        CHECK(took < std::chrono::seconds(3));          // …and soon after it
    }
    CHECK(raw_status(rx.port(), req("GET", "/healthz")) == 200);
}

TEST_CASE("megabytes of tiny header fields are cut at 8 KiB and cannot grow the receiver",
          "[receiver][bad-input]") {
    receiver_fixture rx;
    const int pid = rx.process().pid();
    const long before_kb = proc_status_kb(pid, "VmHWM");
    {
        raw_conn c(rx.port());
        // 10 MiB of empty fields, then the end of the header, sent at once (the receiver may
        // close before it has all: the send then stops early).
        bool sent = c.send("GET /healthz HTTP/1.1\r\n" + repeat("a:\r\n", 10 << 18) + "\r\n");
        auto reply = c.read_until("\r\n\r\n", std::chrono::seconds(10));
        INFO("reply: " << reply.substr(0, 200) << "\nall sent: " << sent);
        CHECK((reply.empty() || reply.starts_with("HTTP/1.1 431")));  // the 431 may be lost to the reset
        CHECK(c.wait_closed(std::chrono::seconds(10)));
    }
    // Before the fix the fields were stored as parsed: ~200 MB for 10 MiB of them.
    const long grown_kb = proc_status_kb(pid, "VmHWM") - before_kb;
    INFO("peak RSS grew by " << grown_kb << " kB");
    CHECK(grown_kb < 16 * 1024);
    CHECK(raw_status(rx.port(), req("GET", "/healthz")) == 200);
}

TEST_CASE("NUL row is sent with its NUL byte", "[receiver][bad-input]") {
    receiver_fixture rx;
    std::string request("GET /healthz HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 34);
    CHECK(raw_status(rx.port(), request) == 400);
}
