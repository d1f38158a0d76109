// The receiver under stress and failure: client disconnects, stalls, slow headers, full disks,
// two receiver processes racing on one store, SIGTERM mid-upload, the connection limit.
#include "receiver_client.hpp"
#include "skip.hpp"

#include <sys/mount.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>

using namespace labsync::test;
using namespace std::chrono_literals;

namespace {

std::string put_head(const std::string& run, std::size_t length,
                     const std::string& sha = std::string(64, 'a')) {
    return "PUT /v1/runs/eq1/" + run + " HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " +
           std::string(receiver_options::eq1_token) + "\r\nX-Content-SHA256: " + sha +
           "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

bool in_flight(const receiver_fixture& rx, int n) {
    auto m = curl(rx.url() + "/metrics", {});
    return m.body.find("labsync_receiver_uploads_in_flight " + std::to_string(n) + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("a client that disconnects mid-body leaves nothing in the store", "[receiver][robust]") {
    receiver_fixture rx(blob_options());
    {
        raw_conn c(rx.port());
        c.send(put_head("r-cut", 10 << 20));
        c.send(std::string(3 << 20, 'x'));
        REQUIRE(eventually([&] { return in_flight(rx, 1); }));
    }  // closed with 7 MiB missing
    REQUIRE(eventually([&] { return rx.stderr_text().find("nothing stored") != std::string::npos; }));
    CHECK(eventually([&] { return in_flight(rx, 0); }));
    CHECK(store_files(rx.store()).empty());
    CHECK(curl(rx.run_url("eq1", "r-cut"), auth_args(rx.token())).status == 404);
}

TEST_CASE("a stalled body and a slow header are cut by their timeouts", "[receiver][robust]") {
    receiver_fixture rx(
        {.member_check = false, .extra_args = {"--header-timeout", "0.3", "--body-timeout", "0.3"}});
    {
        raw_conn c(rx.port());
        auto t0 = std::chrono::steady_clock::now();
        c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n");  // never finishes the header
        CHECK(c.wait_closed(5s));
        CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    }
    {
        raw_conn c(rx.port());
        c.send(put_head("r-stall", 1 << 20));
        c.send(std::string(1000, 'x'));
        auto t0 = std::chrono::steady_clock::now();
        CHECK(c.wait_closed(5s));
        CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    }
    REQUIRE(eventually([&] { return in_flight(rx, 0); }));
    CHECK(store_files(rx.store()).empty());
    // An idle keep-alive connection is closed the same way; the receiver still serves others.
    CHECK(curl(rx.url() + "/healthz", {}).status == 200);
}

TEST_CASE("a body trickling below --min-body-rate is cut although every read arrives in time",
          "[receiver][robust]") {
    receiver_fixture rx(
        {.member_check = false, .extra_args = {"--body-timeout", "0.5", "--min-body-rate", "1K"}});
    raw_conn c(rx.port());
    c.send(put_head("r-trickle", 1 << 20));
    auto t0 = std::chrono::steady_clock::now();
    bool cut = false;
    while (!cut && std::chrono::steady_clock::now() - t0 < 10s) {
        c.send("x");                 // 10 B/s: each read well inside --body-timeout
        cut = c.wait_closed(100ms);  // the receiver closes the connection
    }
    CHECK(cut);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    REQUIRE(eventually([&] { return in_flight(rx, 0); }));
    CHECK(store_files(rx.store()).empty());
    CHECK(rx.stderr_text().find("slower than --min-body-rate") != std::string::npos);
}

TEST_CASE("two receivers sharing one store: concurrent identical uploads give exactly one 201",
          "[receiver][robust]") {
    temp_dir shared;
    receiver_options o = blob_options();
    o.store = shared / "store";
    receiver_fixture rx1(o), rx2(o);
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 4 << 20, 21);
    auto sha = sha256_of_file(blob);
    for (int round = 0; round < 3; ++round) {
        std::string run = "race-" + std::to_string(round);
        std::vector<std::unique_ptr<child_process>> clients;
        for (int i = 0; i < 6; ++i) {
            const auto& rx = i % 2 ? rx1 : rx2;
            clients.push_back(std::make_unique<child_process>(
                std::vector<std::string>{"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\n", "-T",
                                         blob.string(), "-H", "X-Content-SHA256: " + sha, "-H",
                                         "Authorization: Bearer " + rx.token(), rx.run_url("eq1", run)}));
        }
        std::map<std::string, int> codes;
        for (auto& c : clients) {
            auto line = c->wait_for_line("", 60s);
            codes[line.value_or("none")]++;
        }
        INFO("round " << round);
        CHECK(codes["201"] == 1);
        CHECK(codes["200"] == 5);
        CHECK(read_file(*o.store / "eq1" / (run + ".tar.zst")) == read_file(blob));
    }
    CHECK(store_files(*o.store).size() == 6);
}

TEST_CASE("a full store answers 507, before the body when it can", "[receiver][robust]") {
    temp_dir tmp;
    auto mnt = tmp / "small";
    std::filesystem::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0)
        skip_test("cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): " + std::string(std::strerror(errno)));
    struct unmount {
        std::filesystem::path p;
        ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
    } guard{mnt};
    {
        receiver_options o = blob_options();
        o.store = mnt / "store";
        receiver_fixture rx(o);
        auto big = make_blob(tmp / "big", 5 << 20, 31);
        auto r = curl_put(rx, "eq1", "too-big", big);
        CHECK(r.status == 507);
        CHECK(r.body.find("insufficient_storage") != std::string::npos);
        auto part = make_blob(tmp / "part", 3 << 20, 32);
        CHECK(curl_put(rx, "eq1", "fits", part).status == 201);
        auto second = make_blob(tmp / "second", 3 << 20, 33);
        CHECK(curl_put(rx, "eq1", "no-longer-fits", second).status == 507);
        CHECK(store_files(rx.store()) == std::vector<std::string>{"eq1/fits.json", "eq1/fits.tar.zst"});
    }
}

TEST_CASE("SIGTERM: an upload in flight finishes within the grace period, exit 0", "[receiver][robust]") {
    receiver_fixture rx({.member_check = false, .extra_args = {"--shutdown-grace", "20"}});
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 2 << 20, 41);
    auto data = read_file(blob);
    raw_conn c(rx.port());
    c.send(put_head("r-term", data.size(), sha256_of_file(blob)));
    c.send(data.substr(0, 1 << 20));
    REQUIRE(eventually([&] { return in_flight(rx, 1); }));
    ::kill(rx.process().pid(), SIGTERM);
    REQUIRE(eventually([&] { return rx.stderr_text().find("no new connections") != std::string::npos; }));
    c.send(data.substr(1 << 20));
    auto reply = c.read_until("}");
    CHECK(reply.starts_with("HTTP/1.1 201"));
    CHECK(reply.find("Connection: close") != std::string::npos);
    auto end = rx.stop(10s);
    REQUIRE(end);
    CHECK(end->exit_code == 0);
    CHECK(store_files(rx.store()) == std::vector<std::string>{"eq1/r-term.json", "eq1/r-term.tar.zst"});
}

TEST_CASE("SIGTERM: a stalled upload is cut after the grace period, nothing left, exit 0",
          "[receiver][robust]") {
    receiver_fixture rx({.member_check = false, .extra_args = {"--shutdown-grace", "0.3"}});
    raw_conn idle(rx.port());  // an idle keep-alive connection is closed at once
    raw_conn c(rx.port());
    c.send(put_head("r-stuck", 8 << 20));
    c.send(std::string(2 << 20, 'y'));
    REQUIRE(eventually([&] { return in_flight(rx, 1); }));
    auto end = rx.stop(10s);
    REQUIRE(end);
    CHECK(end->exit_code == 0);
    CHECK(idle.wait_closed(1s));
    CHECK(c.wait_closed(1s));
    CHECK(store_files(rx.store()).empty());
}

TEST_CASE("the connection limit closes extra connections when every slot is authenticated",
          "[receiver][robust]") {
    receiver_fixture rx({.member_check = false, .extra_args = {"--max-connections", "2"}});
    const std::string ping =
        "POST /v1/ping HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nAuthorization: Bearer " +
        std::string(receiver_options::eq1_token) + "\r\n\r\n";
    raw_conn a(rx.port()), b(rx.port());
    for (auto* c : {&a, &b}) {  // both keep-alive connections authenticated: not evictable
        REQUIRE(c->send(ping));
        REQUIRE(c->read_until("\"ok\"}").find("200 OK") != std::string::npos);
    }
    REQUIRE(eventually([&] {
        raw_conn extra(rx.port());
        return extra.wait_closed(200ms);
    }));
    a.close();
    b.close();
    CHECK(eventually([&] { return curl(rx.url() + "/healthz", {}).status == 200; }));
    CHECK(curl(rx.url() + "/metrics", {}).body.find("labsync_receiver_connections_refused_total 0\n") ==
          std::string::npos);
}

TEST_CASE("300 idle TLS connections cannot lock out an authenticated upload", "[receiver][robust]") {
    receiver_fixture rx({.tls = true, .member_check = false});  // default --max-connections 256
    std::vector<std::unique_ptr<raw_conn>> idle;
    for (int i = 0; i < 300; ++i) idle.push_back(std::make_unique<raw_conn>(rx.port()));  // no handshake
    temp_dir tmp;
    auto blob = make_blob(tmp / "blob", 1 << 20, 7);
    auto t0 = std::chrono::steady_clock::now();
    auto r = curl_put(rx, "eq1", "r-under-siege", blob);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(r.status == 201);
    CHECK(took < 2s);
    CHECK(curl(rx.url() + "/healthz", tls_args(rx)).status == 200);
    auto m = curl(rx.url() + "/metrics", tls_args(rx)).body;
    CHECK(m.find("labsync_receiver_connections_evicted_total 0\n") == std::string::npos);
    std::vector<bool> closed(idle.size(), false);
    CHECK(eventually([&] {  // the oldest idle ones were evicted to admit the rest and our requests
        std::size_t n = 0;
        for (std::size_t i = 0; i < idle.size(); ++i) {
            if (!closed[i]) closed[i] = idle[i]->wait_closed(3ms);
            n += closed[i] ? 1 : 0;
        }
        return n >= 300 - 256;
    }));
}
