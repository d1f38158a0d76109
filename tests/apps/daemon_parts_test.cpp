// Pure parts of the daemon: status document and its text, watchdog gate, metrics text, log lines.
#include "admin/admin_server.hpp"
#include "admin/status_view.hpp"
#include "daemon/daemon_state.hpp"
#include "daemon/watchdog_gate.hpp"
#include "logging.hpp"
#include "metrics/metrics_registry.hpp"
#include "temp_dir.hpp"

#include "labsync/transports/http_put_outbox.hpp"
#include "labsync/verifier/manifest_builder.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace labsync::apps;
using namespace std::chrono_literals;
using labsync::queue::job_state;

namespace {

labsync::queue::job make_job(std::int64_t id, const std::string& eq, const std::string& run, job_state s) {
    labsync::queue::job j;
    j.id = id;
    j.equipment = eq;
    j.run_id = run;
    j.state = s;
    return j;
}

}  // namespace

TEST_CASE("status JSON: every state counted per equipment, progress with rate and ETA", "[status]") {
    labsync::queue::state_counts counts;
    counts["scope-1"][job_state::running] = 1;
    counts["scope-1"][job_state::verified] = 4;
    counts["old-eq"][job_state::cleaned] = 2;
    progress_tracker tracker;
    auto t0 = std::chrono::steady_clock::now();
    tracker.update(7, 0, 1000, t0);
    tracker.update(7, 500, 1000, t0 + 1s);
    auto doc =
        status_json({.pid = 42, .uptime_s = 9, .config = "/c.toml", .ready = true}, {"scope-1", "seq-2"},
                    counts, {make_job(7, "scope-1", "run-7", job_state::running)}, tracker.snapshot());
    CHECK(doc["version"] == 1);
    CHECK(doc["daemon"]["pid"] == 42);
    REQUIRE(doc["equipment"].size() == 3);
    CHECK(doc["equipment"][0]["name"] == "scope-1");
    CHECK(doc["equipment"][1]["name"] == "seq-2");
    CHECK(doc["equipment"][2]["configured"] == false);
    CHECK(doc["equipment"][0]["counts"]["verified"] == 4);
    CHECK(doc["equipment"][1]["counts"]["queued"] == 0);
    CHECK(doc["equipment"][1]["counts"].size() == 8);
    CHECK(doc["totals"]["cleaned"] == 2);
    auto& cur = doc["equipment"][0]["current"];
    REQUIRE(cur.size() == 1);
    CHECK(cur[0]["progress"]["done"] == 500);
    CHECK(cur[0]["progress"]["rate_bps"] == 500.0);
    CHECK(cur[0]["progress"]["eta_s"] == 1);

    std::string text = render_status_text(doc, {.bars = true, .width = 100});
    CHECK_THAT(text, Catch::Contains("scope-1"));
    CHECK_THAT(text, Catch::Contains("run-7"));
    CHECK_THAT(text, Catch::Contains("50%"));
    CHECK_THAT(text, Catch::Contains("█"));
    CHECK_THAT(render_status_text(doc, {.bars = false}), !Catch::Contains("█"));
}

TEST_CASE("human units", "[status]") {
    CHECK(human_bytes(312) == "312 B");
    CHECK(human_bytes(1536) == "1.5 KiB");
    CHECK(human_duration(45) == "45s");
    CHECK(human_duration(3720) == "1h02m");
    CHECK(human_duration(std::nullopt) == "-");
}

TEST_CASE("watchdog gate: idle pings, active jobs must move", "[watchdog]") {
    watchdog_gate gate(10s);
    auto t = std::chrono::steady_clock::time_point{} + 1h;
    CHECK(gate.should_ping(t));
    CHECK(gate.should_ping(t + 1h));  // idle for an hour is not a stall
    gate.on_activity(true, t + 1h);
    CHECK(gate.should_ping(t + 1h + 9s));
    CHECK_FALSE(gate.should_ping(t + 1h + 11s));  // active and silent: wedged
    CHECK(gate.stalled_for(t + 1h + 11s) == 11s);
    gate.on_progress(t + 1h + 12s);
    CHECK(gate.should_ping(t + 1h + 13s));
    gate.on_activity(false, t + 1h + 14s);
    CHECK(gate.should_ping(t + 5h));
}

TEST_CASE("watchdog: progress from the manifest and pack phases keeps it fed", "[watchdog]") {
    // A run whose manifest + pack take longer than watchdog_stall is work, not a wedge. Time is
    // simulated: every progress report the verifier or the archiver makes moves the clock by
    // 0.6 x stall, so between two reports the gate never goes quiet for a whole stall, while the
    // whole phase lasts many stalls.
    labsync::test::temp_dir t;
    for (int i = 0; i < 6; ++i)
        labsync::test::write_file(t / "run" / ("f" + std::to_string(i) + ".bin"),
                                  std::string(3u << 20, static_cast<char>('a' + i)));
    const auto stall = 1000ms;
    auto now = std::chrono::steady_clock::time_point{} + 1h;
    daemon_state state(stall);
    labsync::queue::job running = make_job(7, "scope-1", "run-7", job_state::running);
    state.reset({running}, now);
    int reports = 0;
    bool ever_stalled = false;
    std::mutex mutex;  // the callbacks may come from worker threads
    auto feed = [&](std::uint64_t, std::uint64_t) {
        std::lock_guard lock(mutex);
        now += stall * 6 / 10;
        ++reports;
        ever_stalled = ever_stalled || state.stalled_for(now).has_value();
        state.on_progress(now);
    };

    labsync::verifier::build_options build;
    build.threads = 1;
    build.on_progress = feed;
    auto built = labsync::verifier::build_manifest(t / "run", build);
    REQUIRE(built.ok());
    const int hashing_reports = reports;
    CHECK(hashing_reports >= 18);  // one per MiB read: 6 files x 3 MiB

    auto ops = labsync::transports::default_outbox_ops();
    auto out = t / "outbox" / "run-7.tar.zst";
    auto packed = labsync::transports::prepare_outbox(ops, t / "run", out, 1, &built.manifest, feed);
    REQUIRE(packed.status.ok);
    const int packing_reports = reports - hashing_reports;
    CHECK(packing_reports >= 6);  // one per read of up to 2 MiB
    // A retry reuses the archive after checking it end to end: that reports too.
    auto reused = labsync::transports::prepare_outbox(ops, t / "run", out, 1, &built.manifest, feed);
    REQUIRE(reused.reused);
    CHECK(reports > hashing_reports + packing_reports);

    CHECK_FALSE(ever_stalled);
    CHECK(now - (std::chrono::steady_clock::time_point{} + 1h) > stall * 10);  // many stalls long
    CHECK(state.stalled_for(now + stall / 2) == std::nullopt);
    CHECK(state.stalled_for(now + stall * 2));  // and silence is still a stall
}

TEST_CASE("admin peer: a uid without a passwd entry is recorded as uid:N", "[admin]") {
    CHECK(user_name_of(4'000'000'000u) == "uid:4000000000");
    CHECK_FALSE(user_name_of(::getuid()).empty());
    CHECK(user_name_of(::getuid()).rfind("uid:", 0) != 0);  // the test's own user has a name
}

TEST_CASE("metrics text: jobs by state, bytes, retries, durations, disks", "[metrics]") {
    metrics_registry m;
    auto j = make_job(1, "scope-1", "r1", job_state::queued);
    j.attempts = 1;
    j.last_error_kind = "network";
    m.on_job_changed(j);
    m.on_job_changed(j);  // the same attempt reported twice counts once
    auto v = make_job(1, "scope-1", "r1", job_state::verified);
    v.bytes = 1000;
    v.started_at = std::chrono::system_clock::time_point{} + 10s;
    v.finished_at = std::chrono::system_clock::time_point{} + 17s;
    m.on_job_changed(v);
    m.on_job_changed(v);  // force_verify repeats verified: bytes counted once
    m.on_config_reload(false);
    scrape_sample s;
    s.equipment = {"scope-1"};
    s.counts["scope-1"][job_state::verified] = 1;
    s.oldest_queued_age_s["scope-1"] = 12;
    s.disks.push_back({"/data", 100, 1000});
    std::string text = m.render(s);
    CHECK_THAT(text, Catch::Contains("labsync_jobs{equipment=\"scope-1\",state=\"verified\"} 1"));
    CHECK_THAT(text, Catch::Contains("labsync_jobs{equipment=\"scope-1\",state=\"failed\"} 0"));
    CHECK_THAT(text, Catch::Contains("labsync_shipped_bytes_total{equipment=\"scope-1\"} 1000"));
    CHECK_THAT(text, Catch::Contains("labsync_retries_total{equipment=\"scope-1\",kind=\"network\"} 1"));
    CHECK_THAT(text,
               Catch::Contains("labsync_job_duration_seconds_bucket{equipment=\"scope-1\",le=\"15\"} 1"));
    CHECK_THAT(text,
               Catch::Contains("labsync_job_duration_seconds_bucket{equipment=\"scope-1\",le=\"5\"} 0"));
    CHECK_THAT(text, Catch::Contains("labsync_job_duration_seconds_count{equipment=\"scope-1\"} 1"));
    CHECK_THAT(text, Catch::Contains("labsync_oldest_queued_age_seconds{equipment=\"scope-1\"} 12"));
    CHECK_THAT(text, Catch::Contains("labsync_disk_free_bytes{path=\"/data\"} 100"));
    CHECK_THAT(text, Catch::Contains("labsync_config_reloads_total{result=\"refused\"} 1"));
    CHECK_THAT(text, Catch::Contains("# TYPE labsync_job_duration_seconds histogram"));
    CHECK(prometheus_label("a\"b\\c\n") == "a\\\"b\\\\c\\n");
}

TEST_CASE("log lines in text, journal and json shape", "[logging]") {
    auto at = std::chrono::system_clock::time_point{} + 1500ms;
    using labsync::common::log_level;
    CHECK(format_log_line(log_format::text, log_level::info, "hello", at) ==
          "1970-01-01T00:00:01.500Z info    hello");
    CHECK(format_log_line(log_format::journal, log_level::error, "bad", at) == "<3>bad");
    CHECK(format_log_line(log_format::journal, log_level::warning, "w", at) == "<4>w");
    CHECK(format_log_line(log_format::journal, log_level::debug, "d", at) == "<7>d");
    auto j = nlohmann::json::parse(format_log_line(log_format::json, log_level::info, "a \"q\"", at));
    CHECK(j["level"] == "info");
    CHECK(j["msg"] == "a \"q\"");
    CHECK(j["ts"] == "1970-01-01T00:00:01.500Z");
}
