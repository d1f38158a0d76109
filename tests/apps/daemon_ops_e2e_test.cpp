// Issue 15 items 3-5 end to end with a real `syncd run`: runs that wait (no marker, a marker of
// another name) in status and doctor; one outcome line per job with fields in the JSON log and
// admin actions in words; a refused connection said once; `status --watch` fitted to COLUMNS and
// waiting out a daemon restart.
#include "daemon_fixture.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <regex>
#include <sstream>
#include <thread>

using namespace labsync;
using namespace labsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// Polls `syncd status` (admin socket) until pred(status) holds; the last status either way.
json wait_status(daemon_fixture& d, const std::function<bool(const json&)>& pred,
                 std::chrono::milliseconds timeout = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    json s = d.status();
    while (!pred(s) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        s = d.status();
    }
    return s;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

int cells(const std::string& line) {
    int n = 0;
    for (char c : line) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    return n;
}

std::size_t count_of(std::string text, const std::string& needle) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
}

process_options with_columns(const std::string& columns) {
    process_options o;
    o.env["COLUMNS"] = columns;
    return o;
}

// The JSON log line whose msg starts with `prefix`.
std::optional<json> json_line(const std::string& log, const std::string& prefix) {
    for (const auto& line : lines_of(log)) {
        auto j = json::parse(line, nullptr, false);
        if (!j.is_discarded() && j.value("msg", std::string()).rfind(prefix, 0) == 0) return j;
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("runs without their marker are shown by status and doctor, a marker of another name named",
          "[e2e][status][doctor]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    const auto near = d.runs_root() / "run-8";  // finished, but the instrument wrote DONE
    write_file(near / "data.bin", "x");
    write_file(near / "DONE", "");
    const auto writing = d.runs_root() / "run-9";  // still being written
    write_file(writing / "data.bin", "x");
    d.start();

    auto s = wait_status(d, [](const json& st) { return st["equipment"][0]["waiting"].size() == 2; });
    INFO(s.dump());
    const auto& waiting = s["equipment"][0]["waiting"];
    REQUIRE(waiting.size() == 2);
    CHECK(waiting[0]["run_id"] == "run-8");
    CHECK(waiting[0]["kind"] == "no_marker");
    CHECK(waiting[0]["expected_marker"] == "done.marker");
    CHECK(waiting[0]["marker_like"] == json({"DONE"}));
    CHECK(waiting[1]["run_id"] == "run-9");
    CHECK(waiting[1]["reason"] == "no marker done.marker yet");

    auto text = run_process({LABSYNC_SYNCD, "status", "--config", d.config_path().string()});
    INFO(text.out << text.err);
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Catch::Contains("2 waiting: 2 without marker"));
    CHECK_THAT(text.out,
               Catch::Contains("run-8: no marker done.marker; found DONE (a different marker name?)"));

    auto doctor = run_process({LABSYNC_SYNCD, "doctor", "--config", d.config_path().string()});
    INFO(doctor.out << doctor.err);
    CHECK(doctor.exit_code == 1);
    CHECK_THAT(doctor.out, Catch::Contains("✗ marker") &&
                               Catch::Contains("run-8: no marker done.marker; found DONE") &&
                               Catch::Contains("run-9: no marker done.marker yet") &&
                               Catch::Contains("fix: the instrument writes another marker name"));

    // The marker arrives: the run ships and no longer waits.
    write_file(writing / "done.marker", "");
    REQUIRE(d.wait_job("run-9", state_is("cleaned")));
    s = wait_status(d, [](const json& st) { return st["equipment"][0]["waiting"].size() == 1; });
    CHECK(s["equipment"][0]["waiting"].size() == 1);
}

TEST_CASE("the JSON log has one outcome line per job with fields, and admin actions in words",
          "[e2e][logging]") {
    receiver_fixture rx(tls_receiver());
    auto options = to(rx);
    options.log_format = "json";
    daemon_fixture d(options);
    d.start();
    d.write_run("r-1", 2, 64 << 10);
    REQUIRE(d.wait_job("r-1", state_is("cleaned")));
    auto retry = run_process({LABSYNC_SYNCD, "retry", "eq1/r-1", "--socket", d.socket().string()});
    CHECK(retry.exit_code == 1);  // a cleaned job is not failed

    const std::string log = d.stderr_text();
    INFO(log);
    auto verified = json_line(log, "eq1/r-1 verified ");
    REQUIRE(verified);
    CHECK(verified->value("level", "") == "info");
    CHECK_THAT(verified->value("msg", ""),
               Catch::Matches(R"(eq1/r-1 verified \S+ \S+ in \S+ s \(\S+ \S+/s\))"));
    CHECK((*verified)["equipment"] == "eq1");
    CHECK((*verified)["run"] == "r-1");
    CHECK((*verified)["state"] == "verified");
    CHECK((*verified)["job"].is_number_integer());
    CHECK((*verified)["bytes"].get<std::int64_t>() >= 128 << 10);
    auto cleaned = json_line(log, "eq1/r-1 cleaned");
    REQUIRE(cleaned);
    CHECK((*cleaned)["state"] == "cleaned");
    CHECK(count_of(log, "\"msg\":\"eq1/r-1 verified") == 1);  // one line per outcome

    auto refused = json_line(log, "admin: ");
    REQUIRE(refused);
    CHECK(refused->value("level", "") == "warning");
    CHECK_THAT(refused->value("msg", ""),
               Catch::Contains("retry of eq1/r-1 refused: ") && !Catch::Contains("{"));
    // Engine lines name their run in fields too.
    auto created = json_line(log, "eq1/r-1: job ");
    REQUIRE(created);
    CHECK((*created)["run"] == "r-1");
}

TEST_CASE("a refused connection: said once, a retry countdown in status, one failed line",
          "[e2e][status][logging]") {
    auto options = daemon_options{};
    options.url = fmt::format("http://127.0.0.1:{}", free_tcp_port());  // nothing listens
    daemon_fixture d(options);
    d.start();
    d.write_run("r-f", 1, 4 << 10);

    auto s = wait_status(d, [](const json& st) { return !st["equipment"][0]["retrying"].empty(); });
    INFO(s.dump());
    REQUIRE_FALSE(s["equipment"][0]["retrying"].empty());
    const auto& job = s["equipment"][0]["retrying"][0];
    CHECK(job["retry"]["max_attempts"] == 10);
    const std::string error = job["last_error"];
    CHECK(count_of(error, "connection refused") == 1);  // before: "... (connecting: Connection refused)"
    // The job alternates between running and queued: look until a status catches it queued.
    const std::regex countdown(R"(r-f +queued +retry \d+/10 in \S+: connection refused \(connecting\))");
    std::string text;
    for (int i = 0; i < 100 && !std::regex_search(text, countdown); ++i)
        text =
            run_process({LABSYNC_SYNCD, "status", "--socket", d.socket().string()}, with_columns("200")).out;
    INFO(text);
    CHECK(std::regex_search(text, countdown));

    REQUIRE(d.wait_job("r-f", state_is("failed")));
    const std::string log = d.stderr_text();
    INFO(log);
    std::vector<std::string> failed;
    const std::regex outcome(R"(info +eq1/r-f failed \(\w+, \d+ attempts\): )");
    for (const auto& line : lines_of(log))
        if (std::regex_search(line, outcome)) failed.push_back(line);
    REQUIRE(failed.size() == 1);
    CHECK(count_of(failed[0], "connection refused") == 1);
}

TEST_CASE("status --watch fits COLUMNS and keeps running across a daemon restart", "[e2e][status]") {
    receiver_fixture rx(tls_receiver());
    daemon_fixture d(to(rx));
    const std::string long_run = "run-with-a-rather-long-name-that-does-not-fit-0001";
    write_file(d.runs_root() / long_run / "data.bin", "x");  // waits for its marker
    d.start();
    wait_status(d, [](const json& st) { return !st["equipment"][0]["waiting"].empty(); });

    const std::vector<std::string> watch_argv{LABSYNC_SYNCD, "status",   "--watch",          "--interval",
                                              "0.2",         "--socket", d.socket().string()};
    child_process watch(watch_argv, with_columns("60"));
    REQUIRE(watch.wait_for_line("without marker"));
    for (const auto& line : lines_of(watch.stdout_so_far())) {
        INFO(line);
        CHECK(cells(line) <= 60);
    }
    CHECK_THAT(watch.stdout_so_far(), Catch::Contains("…"));
    auto wide = run_process({LABSYNC_SYNCD, "status", "--socket", d.socket().string()}, with_columns("120"));
    CHECK_THAT(wide.out, Catch::Contains(long_run + ": no marker done.marker yet"));
    for (const auto& line : lines_of(wide.out)) CHECK(cells(line) <= 120);

    // The daemon restarts: the watch says so and carries on (it used to exit 4).
    REQUIRE(d.stop(SIGTERM));
    REQUIRE(watch.wait_for_line("reconnecting…"));
    CHECK(watch.running());
    d.start();
    REQUIRE(watch.wait_for_line("syncd pid"));
    CHECK(watch.running());
    auto stopped = watch.stop(SIGINT);
    REQUIRE(stopped);
    CHECK(stopped->signal == SIGINT);
}
