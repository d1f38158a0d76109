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

std::vector<row> rows() {
    std::string e65(65, 'e'), r129(129, 'r');
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
}

TEST_CASE("NUL row is sent with its NUL byte", "[receiver][bad-input]") {
    receiver_fixture rx;
    std::string request("GET /healthz HTTP/1.1\r\nX-A: a\0b\r\n\r\n", 34);
    CHECK(raw_status(rx.port(), request) == 400);
}
