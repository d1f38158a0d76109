// The bandwidth timetable parser (incl. midnight wrap and error positions) and the token bucket.
#include "labsync/engine/bandwidth_timetable.hpp"
#include "labsync/engine/token_bucket.hpp"

#include <catch2/catch.hpp>

using namespace labsync::engine;
using namespace std::chrono_literals;

namespace {
constexpr std::uint64_t MiB = 1024 * 1024;

bandwidth_timetable parse_ok(std::string_view text) {
    timetable_parse_error err;
    auto t = bandwidth_timetable::parse(text, &err);
    INFO(err.message);
    REQUIRE(t);
    return *t;
}

timetable_parse_error parse_bad(std::string_view text) {
    timetable_parse_error err;
    REQUIRE_FALSE(bandwidth_timetable::parse(text, &err));
    return err;
}
}  // namespace

TEST_CASE("timetable: the SPEC example, day limit and unlimited night with midnight wrap", "[bandwidth]") {
    auto t = parse_ok("08:00,20M 19:00,off");
    CHECK(t.limit_at(8 * 60) == 20 * MiB);
    CHECK(t.limit_at(12 * 60) == 20 * MiB);
    CHECK(t.limit_at(19 * 60 - 1) == 20 * MiB);
    CHECK(t.limit_at(19 * 60) == 0);
    CHECK(t.limit_at(23 * 60 + 59) == 0);
    CHECK(t.limit_at(0) == 0);  // before the first entry: yesterday's last one
    CHECK(t.limit_at(7 * 60 + 59) == 0);
    CHECK(t.limit_at(1440 + 9 * 60) == 20 * MiB);  // modulo a day
    CHECK(t.limit_at(-60) == 0);                   // 23:00
    CHECK(t.to_string() == "08:00,20M 19:00,off");
    CHECK_FALSE(t.unlimited());
}

TEST_CASE("timetable: wrap keeps a night limit across midnight", "[bandwidth]") {
    auto t = parse_ok("  22:30,1G   06:15,512K ");  // unordered, extra spaces
    CHECK(t.entries().front().start_minute == 6 * 60 + 15);
    CHECK(t.limit_at(0) == 1024 * MiB);
    CHECK(t.limit_at(6 * 60 + 14) == 1024 * MiB);
    CHECK(t.limit_at(6 * 60 + 15) == 512 * 1024);
    CHECK(t.limit_at(22 * 60 + 29) == 512 * 1024);
    CHECK(t.limit_at(22 * 60 + 30) == 1024 * MiB);
    CHECK(t.seconds_until_change(0) == (6 * 60 + 15) * 60);
    CHECK(t.seconds_until_change(23 * 3600) == 3600 + (6 * 60 + 15) * 60);
    CHECK(t.seconds_until_change((6 * 60 + 15) * 60) == (22 * 60 + 30 - (6 * 60 + 15)) * 60);
}

TEST_CASE("timetable: units, bare rates and no limit", "[bandwidth]") {
    CHECK(parse_ok("").unlimited());
    CHECK(parse_ok("   ").unlimited());
    CHECK(parse_ok("off").unlimited());
    CHECK(parse_ok("0").unlimited());
    CHECK(parse_ok("00:00,0 12:00,off").unlimited());
    CHECK(parse_ok("10M").limit_at(5) == 10 * MiB);
    CHECK(parse_ok("10M").seconds_until_change(100) == 0);
    CHECK(parse_ok("1000").limit_at(0) == 1000);
    CHECK(parse_ok("2k").limit_at(0) == 2048);
    CHECK(parse_ok("1.5M").limit_at(0) == 3 * MiB / 2);
    CHECK(parse_ok("20MB").limit_at(0) == 20 * MiB);
    CHECK(parse_ok("0:05,1G").limit_at(5) == 1024 * MiB);
}

TEST_CASE("timetable: errors name the position and the problem", "[bandwidth]") {
    auto e = parse_bad("08:00,20X 19:00,off");
    CHECK(e.position == 8);
    CHECK_THAT(e.message, Catch::Contains("unknown unit 'X'"));
    e = parse_bad("08:00,20M 25:00,off");
    CHECK(e.position == 10);
    CHECK_THAT(e.message, Catch::Contains("hour 25"));
    e = parse_bad("08:61,1M");
    CHECK_THAT(e.message, Catch::Contains("minute 61"));
    e = parse_bad("8h,1M");
    CHECK_THAT(e.message, Catch::Contains("not HH:MM"));
    e = parse_bad("08:00,");
    CHECK(e.position == 6);
    CHECK_THAT(e.message, Catch::Contains("empty rate"));
    e = parse_bad("08:00,1M 08:00,2M");
    CHECK_THAT(e.message, Catch::Contains("appears twice"));
    e = parse_bad("08:00,1M 5M");
    CHECK(e.position == 9);
    CHECK_THAT(e.message, Catch::Contains("has no time"));
    e = parse_bad("5M 08:00,1M");
    CHECK_THAT(e.message, Catch::Contains("bare rate"));
    e = parse_bad("08:00,fast");
    CHECK_THAT(e.message, Catch::Contains("does not start with a number"));
    e = parse_bad("08:00,0.0001");
    CHECK_THAT(e.message, Catch::Contains("rounds to 0"));
    e = parse_bad("08:00,1Mx");
    CHECK_THAT(e.message, Catch::Contains("unexpected"));
    CHECK(bandwidth_timetable::parse("nonsense", nullptr) == std::nullopt);
}

namespace {
struct manual_steady {
    std::chrono::steady_clock::time_point now{std::chrono::seconds(1000)};
    token_bucket::steady_fn fn() {
        return [this] { return now; };
    }
};
}  // namespace

TEST_CASE("token bucket: unlimited never waits", "[bandwidth]") {
    manual_steady clock;
    token_bucket b(bandwidth_timetable{}, nullptr, clock.fn(), [] { return 600; });
    for (int i = 0; i < 100; ++i) CHECK(b.reserve(100 * MiB) == 0ns);
    CHECK(b.current_limit() == 0);
}

TEST_CASE("token bucket: long-run rate equals the limit, burst then debt", "[bandwidth]") {
    manual_steady clock;
    token_bucket b(bandwidth_timetable({{0, MiB}}), nullptr, clock.fn(), [] { return 600; });
    // The burst (max(64 KiB, 250 ms of rate) = 256 KiB) passes at once.
    CHECK(b.reserve(256 * 1024) == 0ns);
    // The next MiB has to wait one second.
    auto w = b.reserve(MiB);
    CHECK(w >= 999ms);
    CHECK(w <= 1001ms);
    // A second caller queues behind the first one's debt.
    w = b.reserve(MiB);
    CHECK(w >= 1999ms);
    CHECK(w <= 2001ms);
    clock.now += 2s;
    CHECK(b.reserve(0) == 0ns);
    // Sending 10 MiB in 64 KiB chunks, sleeping as told, takes ~10 s of manual time.
    clock.now += 10s;  // refill to the burst
    auto start = clock.now;
    std::uint64_t sent = 0;
    while (sent < 10 * MiB) {
        auto wait = b.reserve(64 * 1024);
        clock.now += std::chrono::duration_cast<std::chrono::steady_clock::duration>(wait);
        sent += 64 * 1024;
    }
    const double secs = std::chrono::duration<double>(clock.now - start).count();
    CHECK(secs > 9.6);
    CHECK(secs < 10.1);
}

TEST_CASE("token bucket: the timetable switches the rate, chained buckets take the slower", "[bandwidth]") {
    manual_steady clock;
    int minute = 7 * 60;
    auto global_table = parse_ok("08:00,1M 19:00,off");
    token_bucket global(global_table, nullptr, clock.fn(), [&] { return minute; });
    token_bucket equipment(bandwidth_timetable({{0, 4 * MiB}}), &global, clock.fn(), [&] { return minute; });
    CHECK(equipment.current_limit() == 4 * MiB);  // global is off at 07:00
    CHECK(equipment.reserve(MiB) == 0ns);
    CHECK(equipment.reserve(4 * MiB) >= 900ms);  // equipment bucket: 1 MiB burst, then 4 MiB/s debt
    minute = 9 * 60;
    clock.now += 60s;
    CHECK(equipment.current_limit() == MiB);
    CHECK(global.current_limit() == MiB);
    (void)equipment.reserve(256 * 1024);  // eat the global burst
    auto w = equipment.reserve(MiB);
    CHECK(w >= 999ms);  // the global 1 MiB/s decides
    minute = 20 * 60;
    CHECK(equipment.current_limit() == 4 * MiB);
}
