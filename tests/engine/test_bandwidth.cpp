// The bandwidth timetable parser (incl. midnight wrap and error positions), the budget split,
// the scheduler's leases and the token bucket.
#include "labsync/engine/bandwidth_budget.hpp"
#include "labsync/engine/bandwidth_scheduler.hpp"
#include "labsync/engine/bandwidth_timetable.hpp"
#include "labsync/engine/token_bucket.hpp"

#include <catch2/catch.hpp>

#include <numeric>
#include <random>

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
    token_bucket b(clock.fn());
    for (int i = 0; i < 100; ++i) CHECK(b.reserve(100 * MiB) == 0ns);
    CHECK(b.rate() == 0);
}

TEST_CASE("token bucket: long-run rate equals the limit, burst then debt", "[bandwidth]") {
    manual_steady clock;
    token_bucket b(clock.fn());
    b.set_rate(MiB);
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

TEST_CASE("token bucket: a new rate keeps the debt and pays it at the new rate", "[bandwidth]") {
    manual_steady clock;
    token_bucket b(clock.fn());
    b.set_rate(MiB);
    (void)b.reserve(256 * 1024);     // the burst
    CHECK(b.reserve(MiB) >= 999ms);  // 1 MiB of debt
    b.set_rate(2 * MiB);             // the share doubled: the debt is paid twice as fast
    auto w = b.reserve(0);
    CHECK(w >= 499ms);
    CHECK(w <= 501ms);
    b.set_rate(0);  // unlimited forgets the debt
    CHECK(b.reserve(10 * MiB) == 0ns);
}

// --- the split ---------------------------------------------------------------------------------

namespace {
std::vector<std::uint64_t> split(std::uint64_t global, std::map<std::string, std::uint64_t> eq,
                                 std::vector<std::string> running) {
    return bandwidth_budget(global, std::move(eq)).split(running);
}
using rates = std::vector<std::uint64_t>;
}  // namespace

TEST_CASE("budget split: the cases by name", "[bandwidth][budget]") {
    // Nothing running, nothing to split.
    CHECK(split(1000, {}, {}).empty());
    // No limit anywhere: everyone unlimited.
    CHECK(split(0, {}, {"a", "a", "b"}) == rates{0, 0, 0});
    // One global limit, four transfers of two equipment: a quarter each (the case).
    CHECK(split(4 * MiB, {}, {"a", "a", "b", "b"}) == rates{MiB, MiB, MiB, MiB});
    // The remainder goes one byte each to the first transfers: the sum is exact.
    CHECK(split(10, {}, {"a", "b", "c"}) == rates{4, 3, 3});
    // Equipment limits only: shared inside each equipment, others unlimited.
    CHECK(split(0, {{"a", 100}}, {"a", "b", "a"}) == rates{50, 0, 50});
    // A tight equipment keeps its cap, the rest of the global budget goes to the others.
    CHECK(split(1000, {{"a", 100}}, {"a", "a", "b", "b"}) == rates{50, 50, 450, 450});
    // An equipment limit above its fair share does not bind.
    CHECK(split(1000, {{"a", 900}}, {"a", "b"}) == rates{500, 500});
    // Global above the sum of the caps: everyone at its cap (unused budget is not forced on anyone).
    CHECK(split(1000, {{"a", 100}, {"b", 200}}, {"a", "b"}) == rates{100, 200});
    // A limit smaller than the number of transfers: 1 byte/s each, never 0 (= unlimited).
    CHECK(split(2, {}, {"a", "b", "c"}) == rates{1, 1, 1});
    CHECK(split(0, {{"a", 1}}, {"a", "a"}) == rates{1, 1});
}

TEST_CASE("budget split: randomized model of the rules", "[bandwidth][budget]") {
    std::mt19937_64 rng(12);
    const std::vector<std::string> names{"a", "b", "c", "d"};
    for (int round = 0; round < 20000; ++round) {
        const std::uint64_t global = rng() % 3 == 0 ? 0 : rng() % 5000 + 1;
        std::map<std::string, std::uint64_t> eq;
        for (const auto& n : names)
            if (rng() % 2) eq[n] = rng() % 3000 + 1;
        std::vector<std::string> running;
        const std::size_t count = rng() % 9;
        for (std::size_t i = 0; i < count; ++i) running.push_back(names[rng() % names.size()]);
        const auto r = split(global, eq, running);
        INFO("round " << round << " global " << global << " transfers " << count);
        REQUIRE(r.size() == count);
        constexpr auto inf = std::numeric_limits<std::uint64_t>::max();
        auto cap_of = [&](std::size_t i) {
            auto it = eq.find(running[i]);
            if (it == eq.end()) return inf;
            const auto k = static_cast<std::uint64_t>(std::count(running.begin(), running.end(), running[i]));
            return std::max<std::uint64_t>(1, (it->second + k - 1) / k);  // at most ceil(L/k)
        };
        std::map<std::string, std::uint64_t> per_eq;
        std::uint64_t sum = 0;
        bool any_unlimited = false;
        for (std::size_t i = 0; i < count; ++i) {
            const bool limited = global != 0 || eq.count(running[i]);
            // 0 means unlimited: only when neither limit applies.
            CHECK((r[i] == 0) == !limited);
            if (r[i] == 0) any_unlimited = true;
            CHECK(r[i] <= cap_of(i));
            per_eq[running[i]] += r[i];
            sum += r[i];
        }
        // Never above a limit (except the 1 byte/s floor when a limit is below the head count).
        for (const auto& [name, total] : per_eq)
            if (eq.count(name) &&
                eq[name] >= static_cast<std::uint64_t>(std::count(running.begin(), running.end(), name)))
                CHECK(total <= eq[name]);
        if (global != 0 && global >= count) {
            CHECK(sum <= global);
            // Work-conserving: the whole budget is handed out unless every transfer is at its cap.
            std::uint64_t caps = 0;
            bool capped_all = true;
            for (std::size_t i = 0; i < count; ++i) {
                const auto c = cap_of(i);
                if (c == inf)
                    capped_all = false;
                else
                    caps += c;
            }
            if (!capped_all)
                CHECK(sum == global);
            else
                CHECK(sum >= std::min(global, caps) - count);  // caps rounded per transfer
        }
        // Max-min fairness: a transfer below another is at its equipment's cap.
        for (std::size_t i = 0; i < count && global != 0; ++i)
            for (std::size_t j = 0; j < count; ++j)
                if (r[i] + 1 < r[j]) CHECK(r[i] >= cap_of(i) - 1);
        (void)any_unlimited;
    }
}

// --- the scheduler ------------------------------------------------------------------------------

TEST_CASE("scheduler: leases re-split on start and end, watchers hear of it", "[bandwidth][scheduler]") {
    int minute = 9 * 60;
    auto s =
        std::make_shared<bandwidth_scheduler>(parse_ok("4M"),
                                              std::map<std::string, bandwidth_timetable>{
                                                  {"a", bandwidth_timetable{}}, {"b", bandwidth_timetable{}}},
                                              [&] { return minute; });
    auto* a = s->limiter("a");
    auto* b = s->limiter("b");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(s->limiter("nope") == nullptr);
    auto a1 = a->begin_transfer();
    CHECK(a1->rate() == 4 * MiB);
    std::vector<std::uint64_t> heard;
    a1->on_change([&](std::uint64_t r) { heard.push_back(r); });
    auto a2 = a->begin_transfer();
    auto b1 = b->begin_transfer();
    auto b2 = b->begin_transfer();
    // Two equipment x two transfers under one 4 MiB/s limit: 1 MiB/s each.
    for (auto* l : {a1.get(), a2.get(), b1.get(), b2.get()}) CHECK(l->rate() == MiB);
    CHECK(heard.size() == 3);
    CHECK(heard.back() == MiB);
    b2.reset();
    CHECK(a1->rate() == 4 * MiB / 3 + 1);
    CHECK(s->shares().size() == 3);
    a2.reset();
    b1.reset();
    CHECK(a1->rate() == 4 * MiB);
    CHECK(heard.back() == 4 * MiB);
    a1->on_change({});
    a1.reset();
    CHECK(s->shares().empty());
}

TEST_CASE("scheduler: a timetable change reaches running transfers on refresh", "[bandwidth][scheduler]") {
    int minute = 7 * 60;
    auto s = std::make_shared<bandwidth_scheduler>(
        parse_ok("08:00,2M 19:00,off"), std::map<std::string, bandwidth_timetable>{{"a", parse_ok("3M")}},
        [&] { return minute; });
    auto l1 = s->limiter("a")->begin_transfer();
    auto l2 = s->limiter("a")->begin_transfer();
    CHECK(l1->rate() == 3 * MiB / 2);  // 07:00: only the equipment's 3 MiB/s
    std::uint64_t heard = 0;
    l2->on_change([&](std::uint64_t r) { heard = r; });
    minute = 8 * 60;
    CHECK(l1->rate() == 3 * MiB / 2);  // not before refresh()
    s->refresh();
    CHECK(l1->rate() == MiB);
    CHECK(heard == MiB);
    minute = 20 * 60;
    s->refresh();
    CHECK(heard == 3 * MiB / 2);
    CHECK(s->seconds_until_change(7 * 3600) == 3600);
    CHECK(s->seconds_until_change(20 * 3600) == 12 * 3600);
}

TEST_CASE("scheduler: a lease outlives nothing it needs", "[bandwidth][scheduler]") {
    std::unique_ptr<labsync::transports::bandwidth_lease> late;
    {
        auto s = std::make_shared<bandwidth_scheduler>(parse_ok("1M"),
                                                       std::map<std::string, bandwidth_timetable>{{"a", {}}});
        late = s->limiter("a")->begin_transfer();
    }
    CHECK(late->rate() == MiB);
    late.reset();  // the scheduler is kept alive by the lease: no use after free (ASan)
}
