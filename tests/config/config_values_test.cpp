// Durations, sizes, names, modes, addresses.
#include "labsync/config/config_values.hpp"
#include "labsync/config/config_loader.hpp"
#include "labsync/config/default_config.hpp"

#include <catch2/catch.hpp>

using namespace labsync::config;
using namespace std::chrono_literals;

TEST_CASE("durations", "[config]") {
    std::string why;
    CHECK(parse_duration("90", why) == std::chrono::milliseconds(90s));
    CHECK(parse_duration("30s", why) == std::chrono::milliseconds(30s));
    CHECK(parse_duration("1h30m", why) == std::chrono::milliseconds(90min));
    CHECK(parse_duration("7d", why) == std::chrono::milliseconds(168h));
    CHECK(parse_duration("250ms", why) == 250ms);
    CHECK_FALSE(parse_duration("", why));
    CHECK_FALSE(parse_duration("5m1h", why));
    CHECK_THAT(why, Catch::Contains("largest to smallest"));
    CHECK_FALSE(parse_duration("m", why));
    CHECK_FALSE(parse_duration("-1s", why));
    CHECK(format_duration(90min) == "1h30m");
    CHECK(format_duration(0ms) == "0s");
}

TEST_CASE("sizes", "[config]") {
    std::string why;
    CHECK(parse_size("1024", why) == 1024u);
    CHECK(parse_size("20M", why) == 20u << 20);
    CHECK(parse_size("20MiB", why) == 20u << 20);
    CHECK(parse_size("1.5G", why) == 3ULL << 29);
    CHECK(parse_size("2T", why) == 2ULL << 40);
    CHECK_FALSE(parse_size("G", why));
    CHECK_FALSE(parse_size("5X", why));
    CHECK_FALSE(parse_size("1e30", why));
}

TEST_CASE("modes and addresses", "[config]") {
    std::string why;
    CHECK(parse_mode("0660", why) == 0660u);
    CHECK_FALSE(parse_mode("0x1", why));
    auto hp = parse_host_port("127.0.0.1:9101", why);
    REQUIRE(hp);
    CHECK(hp->host == "127.0.0.1");
    CHECK(hp->port == 9101);
    auto v6 = parse_host_port("[::1]:0", why);
    REQUIRE(v6);
    CHECK(v6->host == "::1");
    CHECK_FALSE(parse_host_port("host:99999", why));
}

TEST_CASE("the embedded default config loads", "[config]") {
    std::string text =
        default_config_text({.base_dir = "/tmp/demo", .receiver_url = "https://127.0.0.1:1234"});
    load_result r = load_config_text(text, "<default>", "/");
    INFO(format_errors(r.errors));
    REQUIRE(r.ok());
    REQUIRE(r.config.engine.equipment.size() == 1);
    CHECK(std::get<labsync::transports::http_put_config>(r.config.engine.equipment[0].transport).url ==
          "https://127.0.0.1:1234");
    CHECK(r.config.daemon.admin_socket == "/tmp/demo/syncd.sock");
}

TEST_CASE("examples/syncd.toml is valid", "[config]") {
    load_result r = load_config(std::string(LABSYNC_TEST_SOURCE_DIR) + "/examples/syncd.toml");
    INFO(format_errors(r.errors));
    CHECK(r.ok());
}
