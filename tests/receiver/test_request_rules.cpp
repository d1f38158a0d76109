// Unit tests of the receiver's pure request rules and PUT verdicts.
#include "labsync/receiver/metrics.hpp"
#include "labsync/receiver/put_decision.hpp"
#include "labsync/receiver/request_rules.hpp"

#include "labsync/receiver/body_rate_floor.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace labsync::receiver;

TEST_CASE("sha256 and commit header formats", "[receiver][unit]") {
    CHECK(valid_sha256_hex(std::string(64, 'a')));
    CHECK(valid_sha256_hex("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(valid_sha256_hex(std::string(64, 'A')));
    CHECK_FALSE(valid_sha256_hex(std::string(63, 'a')));
    CHECK_FALSE(valid_sha256_hex(std::string(63, 'a') + "g"));
    CHECK(valid_commit("abc1234"));
    CHECK(valid_commit("ABC1234"));
    CHECK(valid_commit(std::string(40, 'f')));
    CHECK_FALSE(valid_commit("abc123"));
    CHECK_FALSE(valid_commit(std::string(65, 'f')));
    CHECK_FALSE(valid_commit("main"));
}

TEST_CASE("routes: ?verify=1 asks for a re-hash of the stored bytes", "[receiver][unit]") {
    auto r = parse_route("/v1/runs/eq1/run-7?verify=1");
    CHECK(r.kind == route_kind::run);
    CHECK(r.run == "run-7");
    CHECK(r.verify);
    CHECK(parse_route("/v1/runs/eq1/run-7?x=2&verify=1").verify);
    CHECK_FALSE(parse_route("/v1/runs/eq1/run-7?verify=0").verify);
    CHECK_FALSE(parse_route("/v1/runs/eq1/run-7?verify=10").verify);
    CHECK_FALSE(parse_route("/v1/runs/eq1/run-7?noverify=1").verify);
}

TEST_CASE("routes", "[receiver][unit]") {
    CHECK(parse_route("/healthz").kind == route_kind::healthz);
    CHECK(parse_route("/metrics?x=1").kind == route_kind::metrics);
    CHECK(parse_route("/v1/ping").kind == route_kind::ping);
    CHECK(parse_route("/v1/ping").equipment.empty());
    auto ping = parse_route("/v1/ping?equipment=scope-1");
    CHECK(ping.kind == route_kind::ping);
    CHECK(ping.ids_valid);
    CHECK(ping.equipment == "scope-1");
    auto bad_ping = parse_route("/v1/ping?equipment=..");
    CHECK_FALSE(bad_ping.ids_valid);
    CHECK_THAT(bad_ping.id_error, Catch::Contains("equipment"));
    CHECK_FALSE(parse_route("/v1/ping?equipment=").ids_valid);
    auto r = parse_route("/v1/runs/eq1/run-7?dry=1");
    CHECK(r.kind == route_kind::run);
    CHECK(r.ids_valid);
    CHECK(r.equipment == "eq1");
    CHECK(r.run == "run-7");
    CHECK_FALSE(r.verify);
    CHECK_FALSE(parse_route("/v1/runs/eq1/a/b").ids_valid);
    CHECK_FALSE(parse_route("/v1/runs/../x").ids_valid);
    CHECK_FALSE(parse_route("/v1/runs/eq1/").ids_valid);
    CHECK(parse_route("/v1/runs/eq1").kind == route_kind::not_found);
    CHECK(parse_route("/v1/runs").kind == route_kind::not_found);
    CHECK(parse_route("/").kind == route_kind::not_found);
    CHECK(parse_route("/healthz/").kind == route_kind::not_found);
}

TEST_CASE("byte sizes", "[receiver][unit]") {
    CHECK(parse_byte_size("0") == 0u);
    CHECK(parse_byte_size("1048576") == 1048576u);
    CHECK(parse_byte_size("1K") == 1024u);
    CHECK(parse_byte_size("512M") == 512ull << 20);
    CHECK(parse_byte_size("2g") == 2ull << 30);
    CHECK(parse_byte_size("1T") == 1ull << 40);
    CHECK_FALSE(parse_byte_size(""));
    CHECK_FALSE(parse_byte_size("M"));
    CHECK_FALSE(parse_byte_size("-1"));
    CHECK_FALSE(parse_byte_size("1.5G"));
    CHECK_FALSE(parse_byte_size("99999999999999T"));
}

TEST_CASE("error bodies are small JSON", "[receiver][unit]") {
    auto j = nlohmann::json::parse(error_json("bad_id", "quote \" and \xff byte"));
    CHECK(j["error"] == "bad_id");
    CHECK(j["message"].get<std::string>().find("quote \"") == 0);
}

namespace {

put_facts good_facts() {
    put_facts f;
    f.content_length = 1000;
    f.sha_header_count = 1;
    f.sha256 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    f.max_body = 1 << 20;
    f.free_bytes = 1 << 30;
    return f;
}

}  // namespace

TEST_CASE("PUT verdicts, one row per code, in order", "[receiver][unit]") {
    CHECK(decide_put(good_facts(), nullptr).accepted());
    struct row {
        const char* name;
        std::function<void(put_facts&)> change;
        int status;
    };
    std::vector<row> rows{
        {"bad id", [](put_facts& f) { f.ids_valid = false; }, 400},
        {"bad id wins over auth",
         [](put_facts& f) {
             f.ids_valid = false;
             f.auth = auth_outcome::missing;
         },
         400},
        {"no auth", [](put_facts& f) { f.auth = auth_outcome::missing; }, 401},
        {"malformed auth", [](put_facts& f) { f.auth = auth_outcome::malformed; }, 401},
        {"unknown token", [](put_facts& f) { f.auth = auth_outcome::unknown; }, 401},
        {"forbidden", [](put_facts& f) { f.auth = auth_outcome::forbidden; }, 403},
        {"auth wins over length",
         [](put_facts& f) {
             f.auth = auth_outcome::forbidden;
             f.content_length.reset();
         },
         403},
        {"chunked", [](put_facts& f) { f.chunked = true; }, 411},
        {"no length", [](put_facts& f) { f.content_length.reset(); }, 411},
        {"no sha", [](put_facts& f) { f.sha_header_count = 0; }, 400},
        {"two sha", [](put_facts& f) { f.sha_header_count = 2; }, 400},
        {"bad sha", [](put_facts& f) { f.sha256 = "abc"; }, 400},
        {"bad commit", [](put_facts& f) { f.commit = "zz"; }, 400},
        {"too large", [](put_facts& f) { f.content_length = (1 << 20) + 1; }, 413},
        {"exactly max", [](put_facts& f) { f.content_length = 1 << 20; }, 0},
        {"no space", [](put_facts& f) { f.free_bytes = 999; }, 507},
        {"reserve", [](put_facts& f) { f.reserve_bytes = f.free_bytes.value(); }, 507},
        {"free unknown", [](put_facts& f) { f.free_bytes.reset(); }, 0},
        {"413 wins over 507",
         [](put_facts& f) {
             f.content_length = 2 << 20;
             f.free_bytes = 1;
         },
         413},
        {"size pending: no 413 yet (a stored run is answered first)",
         [](put_facts& f) {
             f.content_length = 2 << 20;
             f.size_pending = true;
         },
         0},
        {"size pending: no 507 yet",
         [](put_facts& f) {
             f.free_bytes = 1;
             f.size_pending = true;
         },
         0},
        {"size pending: auth still first",
         [](put_facts& f) {
             f.auth = auth_outcome::forbidden;
             f.size_pending = true;
         },
         403},
    };
    for (const auto& r : rows) {
        auto f = good_facts();
        r.change(f);
        auto v = decide_put(f, nullptr);
        INFO(r.name << ": " << v.message);
        CHECK(v.status == r.status);
        if (v.status != 0) CHECK_FALSE(v.message.empty());
    }
}

TEST_CASE("PUT verdicts with a commit allow-list", "[receiver][unit]") {
    std::string error;
    auto list = commit_allowlist::parse("# builds\n0123456789abcdef0123456789abcdef01234567\nfeedface00\n",
                                        "allowed", error);
    REQUIRE(list);
    auto f = good_facts();
    auto v = decide_put(f, &*list);
    CHECK(v.status == 412);
    f.commit = "0123456";
    CHECK(decide_put(f, &*list).accepted());
    f.commit = "FEEDFACE00AB";  // the entry is a prefix of the full id
    CHECK(decide_put(f, &*list).accepted());
    f.commit = "1234567";
    v = decide_put(f, &*list);
    CHECK(v.status == 412);
    CHECK(v.message.find("1234567") != std::string::npos);
    CHECK(v.message.find("allowed") != std::string::npos);
    f.ids_valid = false;  // 400 before 412
    CHECK(decide_put(f, &*list).status == 400);
}

TEST_CASE("metrics render as Prometheus text", "[receiver][unit]") {
    metrics m;
    m.count_request("PUT", 201);
    m.count_request("PUT", 201);
    m.count_request("GET", 404);
    m.add_bytes_received(12345);
    m.observe_upload(0.07);
    m.observe_upload(200);
    m.upload_started();
    auto text = m.render(777);
    CHECK(text.find("labsync_receiver_requests_total{method=\"PUT\",code=\"201\"} 2\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_requests_total{method=\"GET\",code=\"404\"} 1\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_bytes_received_total 12345\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_upload_duration_seconds_bucket{le=\"0.05\"} 0\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_upload_duration_seconds_bucket{le=\"0.1\"} 1\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_upload_duration_seconds_bucket{le=\"120\"} 1\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_upload_duration_seconds_bucket{le=\"+Inf\"} 2\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_upload_duration_seconds_count 2\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_uploads_in_flight 1\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_store_free_bytes 777\n") != std::string::npos);
    CHECK(m.render(std::nullopt).find("store_free_bytes") == std::string::npos);
}

TEST_CASE("metrics labels come from a closed set whatever the client sends", "[receiver][unit]") {
    metrics m;
    for (int i = 0; i < 5000; ++i) m.count_request(std::string(200, 'A') + std::to_string(i), 400);
    m.count_request("BREW", 9999);
    m.count_request("PATCH", 204);
    auto text = m.render(std::nullopt);
    CHECK(text.find("labsync_receiver_requests_total{method=\"other\",code=\"400\"} 5000\n") !=
          std::string::npos);
    CHECK(text.find("labsync_receiver_requests_total{method=\"other\",code=\"0\"} 1\n") != std::string::npos);
    CHECK(text.find("labsync_receiver_requests_total{method=\"PATCH\",code=\"204\"} 1\n") !=
          std::string::npos);
    CHECK(text.find("AAAA") == std::string::npos);
    CHECK(text.size() < 4096);
}

TEST_CASE("body rate floor: a trickle is cut after one window, a steady body never", "[receiver][unit]") {
    using namespace std::chrono_literals;
    auto t = body_rate_floor::clock::time_point{};
    body_rate_floor trickle(1024, 60s, t);
    bool alive = true;
    int reads = 0;
    for (; alive && reads < 1000; ++reads) alive = trickle.on_bytes(t += 2s, 1);  // 1 byte every 2 s
    CHECK_FALSE(alive);
    CHECK(reads == 30);  // cut at the end of the first 60 s window
    body_rate_floor steady(1024, 60s, t);
    for (int i = 0; i < 10000; ++i) REQUIRE(steady.on_bytes(t += 1s, 1024));
    body_rate_floor bursty(1024, 60s, t);  // nothing for 59 s, then the window's worth at once
    CHECK(bursty.on_bytes(t += 59s, 0));
    CHECK(bursty.on_bytes(t += 1s, 60 * 1024));
    body_rate_floor off(0, 60s, t);
    CHECK(off.on_bytes(t += 1000s, 1));
}
