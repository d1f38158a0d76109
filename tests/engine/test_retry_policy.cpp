// The SPEC §7 retry table, row by row, with the jitter pinned by an injected RNG.
#include "labsync/engine/retry_policy.hpp"

#include <catch2/catch.hpp>

using namespace labsync::engine;
using labsync::transports::error_kind;
using namespace std::chrono_literals;

namespace {
backoff_config cfg() {
    return {1000ms, 60000ms, 5};
}
}  // namespace

TEST_CASE("retry: network and unknown back off with full jitter up to the cap", "[retry]") {
    double u = 0.5;
    retry_policy p(cfg(), [&] { return u; });
    for (auto kind : {error_kind::network, error_kind::unknown}) {
        auto d = p.decide(kind, 1, std::nullopt);
        CHECK(d.action == retry_action::backoff);
        CHECK(d.delay == 500ms);
        d = p.decide(kind, 3, error_kind::network);
        CHECK(d.action == retry_action::backoff);
        CHECK(d.delay == 2000ms);  // 0.5 * 4 s
        u = 0.0;
        CHECK(p.decide(kind, 2, std::nullopt).delay == 0ms);
        u = 0.999999;
        CHECK(p.decide(kind, 4, std::nullopt).delay <= 8000ms);
        CHECK(p.decide(kind, 4, std::nullopt).delay >= 7990ms);
        u = 0.5;
    }
}

TEST_CASE("retry: the ceiling doubles and stops at the cap without overflow", "[retry]") {
    retry_policy p({1000ms, 60000ms, 1000}, [] { return 0.0; });
    CHECK(p.ceiling(0) == 1000ms);
    CHECK(p.ceiling(1) == 1000ms);
    CHECK(p.ceiling(2) == 2000ms);
    CHECK(p.ceiling(6) == 32000ms);
    CHECK(p.ceiling(7) == 60000ms);
    CHECK(p.ceiling(500) == 60000ms);
    CHECK(p.ceiling(1'000'000) == 60000ms);
}

TEST_CASE("retry: jitter never exceeds the ceiling for any RNG value", "[retry]") {
    for (double u : {-1.0, 0.0, 0.25, 0.999, 1.0, 7.0}) {
        retry_policy p({100ms, 1000ms, 50}, [u] { return u; });
        for (int a = 1; a < 40; ++a) {
            auto d = p.decide(error_kind::network, a, std::nullopt);
            REQUIRE(d.action == retry_action::backoff);
            CHECK(d.delay >= 0ms);
            CHECK(d.delay <= p.ceiling(a));
        }
    }
}

TEST_CASE("retry: network gives up at max_attempts", "[retry]") {
    retry_policy p(cfg(), [] { return 0.3; });
    CHECK(p.decide(error_kind::network, 4, std::nullopt).action == retry_action::backoff);
    auto d = p.decide(error_kind::network, 5, std::nullopt);
    CHECK(d.action == retry_action::fail);
    CHECK_THAT(d.reason, Catch::Contains("giving up after 5 attempts"));
    CHECK(p.decide(error_kind::unknown, 9, std::nullopt).action == retry_action::fail);
}

TEST_CASE("retry: auth, local_file_vanished and conflict are terminal at once", "[retry]") {
    retry_policy p(cfg(), [] { return 0.3; });
    for (auto kind : {error_kind::auth, error_kind::local_file_vanished, error_kind::conflict}) {
        for (int attempts : {1, 2, 4}) {
            auto d = p.decide(kind, attempts, std::nullopt);
            CHECK(d.action == retry_action::fail);
            CHECK(d.delay == 0ms);
        }
    }
    CHECK_THAT(p.decide(error_kind::conflict, 1, std::nullopt).reason, Catch::Contains("untouched"));
}

TEST_CASE("retry: hash_mismatch and binary_missing retry once immediately, then fail", "[retry]") {
    retry_policy p(cfg(), [] { return 0.3; });
    for (auto kind : {error_kind::hash_mismatch, error_kind::binary_missing}) {
        auto d = p.decide(kind, 1, std::nullopt);
        CHECK(d.action == retry_action::immediate_retry);
        CHECK(d.delay == 0ms);
        d = p.decide(kind, 3, error_kind::network);
        CHECK(d.action == retry_action::immediate_retry);
        d = p.decide(kind, 2, kind);
        CHECK(d.action == retry_action::fail);
        CHECK_THAT(d.reason, Catch::Contains("twice in a row"));
    }
    // A different kind before does not count as the one retry.
    CHECK(p.decide(error_kind::hash_mismatch, 2, error_kind::binary_missing).action ==
          retry_action::immediate_retry);
}

TEST_CASE("retry: misconfigured fails without quarantine", "[retry]") {
    retry_policy p({100ms, 1s, 5}, [] { return 0.5; });
    for (int attempts : {1, 5}) {
        const auto d = p.decide(error_kind::misconfigured, attempts, error_kind::network);
        CHECK(d.action == retry_action::fail);
        CHECK_THAT(d.reason, Catch::Contains("retr"));
    }
}

TEST_CASE("retry: rejected quarantines", "[retry]") {
    retry_policy p(cfg(), [] { return 0.3; });
    CHECK(p.decide(error_kind::rejected, 1, std::nullopt).action == retry_action::quarantine);
    CHECK(p.decide(error_kind::rejected, 5, error_kind::network).action == retry_action::quarantine);
}

TEST_CASE("retry: misuse is a programming error", "[retry]") {
    retry_policy p(cfg(), [] { return 0.3; });
    CHECK_THROWS_AS(p.decide(error_kind::none, 1, std::nullopt), std::invalid_argument);
    CHECK_THROWS_AS(retry_policy({1000ms, 100ms, 0}, [] { return 0.0; }), std::invalid_argument);
    CHECK_THROWS_AS(retry_policy(cfg(), {}), std::invalid_argument);
}
