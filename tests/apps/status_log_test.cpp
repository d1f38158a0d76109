// Pure parts of issue 15 items 3-5: the status text fitted to the terminal (phase, retry
// countdown, waiting runs), the sliding-window rate, the outcome and admin log lines with their
// fields, and the JSON / journald shapes of a line with fields.
#include "admin/admin_audit.hpp"
#include "admin/status_view.hpp"
#include "daemon/outcome_log.hpp"
#include "logging.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace labsync::apps;
using namespace std::chrono_literals;
using labsync::common::log_fields;
using labsync::common::log_level;
using labsync::queue::job_state;
using nlohmann::json;

namespace {

int cells(const std::string& line) {
    int n = 0;
    for (char c : line) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

labsync::queue::job a_job(job_state state) {
    labsync::queue::job j;
    j.id = 42;
    j.equipment = "scope-1";
    j.run_id = "run-42";
    j.state = state;
    return j;
}

// A status document with a job uploading, one waiting for a retry and three runs that wait.
json busy_status() {
    labsync::queue::state_counts counts;
    counts["scope-1"][job_state::running] = 1;
    counts["scope-1"][job_state::queued] = 1;
    progress_tracker tracker;
    const auto t0 = std::chrono::steady_clock::now();
    tracker.update(7, 0, 2ull << 30, t0);
    tracker.update(7, 1ull << 30, 2ull << 30, t0 + 1s);
    auto running = a_job(job_state::running);
    running.id = 7;
    running.run_id = "2026-12-01_sample-with-a-very-long-name_0042";
    json doc = status_json({.pid = 1, .uptime_s = 5, .config = "/etc/labsync/syncd.toml", .ready = true},
                           {"scope-1"}, counts, {running}, tracker.snapshot(t0 + 1s));
    auto queued = a_job(job_state::queued);
    queued.attempts = 2;
    queued.last_error_kind = "network";
    queued.last_error = "PUT https://127.0.0.1:1/runs/scope-1/run-42: connection refused (connecting)";
    const auto now = std::chrono::system_clock::now();
    queued.next_attempt_at = now + 7s;
    add_retrying_jobs(doc, {queued}, 10, now);
    labsync::engine::settle_wait settling{"scope-1", "run-50", now - 2s, now + 3s};
    labsync::engine::unmarked_run near{"scope-1", "run-51", "RUN_COMPLETE", {"DONE"}};
    labsync::engine::unmarked_run writing{"scope-1", "run-52", "RUN_COMPLETE", {}};
    add_waiting_runs(doc, {settling}, {near, writing}, now);
    return doc;
}

}  // namespace

TEST_CASE("status text: phase, retry countdown and waiting runs", "[status]") {
    const json doc = busy_status();
    const auto& e = doc["equipment"][0];
    CHECK(e["current"][0]["progress"]["phase"] == "uploading");
    CHECK(e["retrying"][0]["retry"] == json({{"attempt", 3}, {"max_attempts", 10}, {"in_s", 7}}));
    REQUIRE(e["waiting"].size() == 3);
    CHECK(e["waiting"][0]["kind"] == "settling");
    CHECK(e["waiting"][0]["seconds_left"] == 3);
    CHECK(e["waiting"][1]["kind"] == "no_marker");
    CHECK(e["waiting"][1]["marker_like"] == json({"DONE"}));
    CHECK(waiting_summary(e["waiting"]) == "3 waiting: 1 settling 3 s, 2 without marker");

    const std::string text = render_status_text(doc, {.bars = true, .width = 120});
    INFO(text);
    CHECK_THAT(text, Catch::Contains("uploading"));
    CHECK_THAT(text, Catch::Contains("run-42") &&
                         Catch::Contains("retry 3/10 in 7s: connection refused (connecting)"));
    CHECK_THAT(text, Catch::Contains("  3 waiting: 1 settling 3 s, 2 without marker"));
    CHECK_THAT(text,
               Catch::Contains("run-51: no marker RUN_COMPLETE; found DONE (a different marker name?)"));
    CHECK_THAT(text, Catch::Contains("1.0 GiB / 2.0 GiB") && Catch::Contains("1.0 GiB/s"));
}

TEST_CASE("status text fits the width: columns dropped, long names elided", "[status]") {
    const json doc = busy_status();
    for (int width : {60, 80, 120}) {
        const std::string text = render_status_text(doc, {.bars = true, .width = width});
        INFO("width " << width << "\n" << text);
        for (const auto& line : lines_of(text)) CHECK(cells(line) <= width);
    }
    const auto narrow = render_status_text(doc, {.bars = true, .width = 60});
    INFO(narrow);
    CHECK_THAT(narrow, Catch::Contains("2026-12…me_0042"));  // both ends of the run id
    CHECK_THAT(narrow, Catch::Contains(" 50%") && Catch::Contains("█"));
    CHECK_THAT(narrow, !Catch::Contains("1.0 GiB / 2.0 GiB"));  // bytes go first
    CHECK_THAT(narrow, Catch::Contains("…"));
    const auto wide = render_status_text(doc, {.bars = true, .width = 120});
    CHECK_THAT(wide, Catch::Contains("1.0 GiB / 2.0 GiB") && Catch::Contains("eta"));
    CHECK(fit_width("abcdef", 4) == "abc…");
    CHECK(fit_width("██████", 3) == "██…");
    CHECK(fit_width("abc", 3) == "abc");
}

TEST_CASE("progress rate is measured over a sliding window, not since the start", "[status]") {
    progress_tracker tracker;
    const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
    // 100 MB/s for 20 s, then 1 MB/s for 12 s: the average since the start is ~63 MB/s.
    std::uint64_t done = 0;
    for (int s = 0; s <= 20; ++s)
        tracker.update(1, done = s * 100'000'000ull, 0, t0 + std::chrono::seconds(s));
    CHECK(tracker.snapshot(t0 + 20s).at(1).rate_bps == Approx(100e6));
    for (int s = 21; s <= 32; ++s) tracker.update(1, done += 1'000'000, 0, t0 + std::chrono::seconds(s));
    CHECK(tracker.snapshot(t0 + 32s).at(1).rate_bps == Approx(1e6));
    // Nothing reported for longer than the window: stalled, not the last rate forever.
    CHECK(tracker.snapshot(t0 + 50s).at(1).rate_bps == 0);
    // A new phase starts its own count.
    tracker.update(1, 5, 10, t0 + 51s, "verifying");
    CHECK(tracker.snapshot(t0 + 51s).at(1).phase == "verifying");
    CHECK(tracker.snapshot(t0 + 51s).at(1).rate_bps == 0);
}

TEST_CASE("outcome lines: verified with size, time and rate, blocked, failed, cleaned", "[logging]") {
    auto j = a_job(job_state::verified);
    j.bytes = 500ll << 20;
    j.started_at = std::chrono::system_clock::time_point{} + 1000s;
    j.finished_at = *j.started_at + 3100ms;
    j.last_error_kind = "network";  // an earlier attempt's
    auto line = outcome_line(j);
    REQUIRE(line);
    CHECK(line->level == log_level::info);
    CHECK(line->message == "scope-1/run-42 verified 500.0 MiB in 3.1 s (161.3 MiB/s)");
    CHECK(line->fields.equipment == "scope-1");
    CHECK(line->fields.run == "run-42");
    CHECK(line->fields.job == 42);
    CHECK(line->fields.state == "verified");
    CHECK(line->fields.bytes == 500ull << 20);
    CHECK(line->fields.kind.empty());

    j = a_job(job_state::blocked_by_validation);
    j.last_error_kind = "validation";
    j.last_error = "[symlink_escape] symlink 'cal' points outside the run";
    line = outcome_line(j);
    REQUIRE(line);
    CHECK(line->message == "scope-1/run-42 blocked: [symlink_escape] symlink 'cal' points outside the run");
    CHECK(line->fields.kind == "validation");

    j = a_job(job_state::failed);
    j.attempts = 3;
    j.last_error_kind = "auth";
    j.last_error = "PUT https://rx/runs/scope-1/run-42: HTTP 403 Forbidden";
    line = outcome_line(j);
    REQUIRE(line);
    CHECK(line->message ==
          "scope-1/run-42 failed (auth, 3 attempts): PUT https://rx/runs/scope-1/run-42: HTTP 403 Forbidden");
    CHECK(line->fields.kind == "auth");

    line = outcome_line(a_job(job_state::cleaned));
    REQUIRE(line);
    CHECK(line->message == "scope-1/run-42 cleaned: local run deleted");
    for (auto s :
         {job_state::queued, job_state::running, job_state::awaiting_verify, job_state::cleanup_eligible})
        CHECK_FALSE(outcome_line(a_job(s)));
}

TEST_CASE("admin actions are logged in words with their outcome", "[logging]") {
    const admin_actor alice{"alice", 1000, 4242};
    admin_response ok;
    ok.data["job"] = {{"id", 7}, {"equipment", "eq1"}, {"run_id", "run-7"}, {"state", "queued"}};
    auto line = admin_action_line({.op = admin_op::retry, .run = "run-7"}, alice, ok);
    REQUIRE(line);
    CHECK(line->level == log_level::info);
    CHECK(line->message == "admin: alice (uid 1000, pid 4242) retried eq1/run-7: job 7 is queued");
    CHECK(line->fields.job == 7);
    CHECK(line->fields.run == "run-7");

    auto refused = admin_error("wrong_state", "job 7 is verified, not blocked_by_validation");
    line = admin_action_line({.op = admin_op::override_block, .run = "eq1/run-7", .why = "checked by hand"},
                             alice, refused);
    REQUIRE(line);
    CHECK(line->level == log_level::warning);
    CHECK(line->message ==
          "admin: alice (uid 1000, pid 4242) override of eq1/run-7 refused: job 7 is verified, not "
          "blocked_by_validation (wrong_state) (why: checked by hand)");
    CHECK_THAT(line->message, !Catch::Contains("{"));  // words, not the request's JSON
    CHECK_FALSE(admin_action_line({.op = admin_op::status}, alice, ok));
    CHECK_FALSE(admin_action_line({.op = admin_op::show, .run = "run-7"}, alice, ok));
}

TEST_CASE("log lines carry fields: JSON keys, journald fields, engine prefixes", "[logging]") {
    const auto at = std::chrono::system_clock::time_point{} + 1764000000s;
    log_fields f;
    f.equipment = "scope-1";
    f.run = "run-42";
    f.job = 42;
    f.state = "verified";
    f.bytes = 524288000;
    auto j =
        json::parse(format_log_line(log_format::json, log_level::info, "scope-1/run-42 verified", at, f));
    CHECK(j["msg"] == "scope-1/run-42 verified");
    CHECK(j["equipment"] == "scope-1");
    CHECK(j["run"] == "run-42");
    CHECK(j["job"] == 42);
    CHECK(j["state"] == "verified");
    CHECK(j["bytes"] == 524288000);
    CHECK_FALSE(j.contains("kind"));  // unset fields are left out
    CHECK(json::parse(format_log_line(log_format::json, log_level::info, "plain", at)).size() == 3);

    f.kind = "network";
    CHECK(journal_fields(log_level::warning, "m", f) ==
          std::vector<std::string>{"MESSAGE=m", "PRIORITY=4", "SYSLOG_IDENTIFIER=syncd", "EQUIPMENT=scope-1",
                                   "RUN=run-42", "JOB=42", "STATE=verified", "BYTES=524288000",
                                   "KIND=network"});

    auto from = fields_from_message("scope-1/run-42: retry in 4 s: connection refused");
    CHECK(from.equipment == "scope-1");
    CHECK(from.run == "run-42");
    CHECK(fields_from_message("job 17: transition to verified refused: busy").job == 17);
    CHECK(fields_from_message("engine running: 2 equipment").empty());
    CHECK(fields_from_message("a/b/c: no").empty());
}
