// The status page's pure parts: the per-minute throughput ring, the routes of the metrics
// listener, the page's data and the embedding of that data in the HTML.
#include "metrics/status_page.hpp"
#include "metrics/metrics_http.hpp"
#include "metrics/throughput_history.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <numeric>

using namespace labsync::apps;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A minute boundary of the steady clock, so that tests do not straddle one by chance.
throughput_history::clock::time_point minute_start() {
    auto now = throughput_history::clock::now();
    return throughput_history::clock::time_point(
        std::chrono::duration_cast<std::chrono::minutes>(now.time_since_epoch()));
}

std::string body_of(const std::string& response) {
    auto at = response.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : response.substr(at + 4);
}

}  // namespace

TEST_CASE("throughput: upload progress becomes bytes per minute, oldest first, one hour", "[status-page]") {
    throughput_history t;
    const auto m0 = minute_start();
    t.on_upload_progress(1, 1000, m0 + 1s);  // a job's first report counts from 0
    t.on_upload_progress(1, 1500, m0 + 2s);
    t.on_upload_progress(2, 300, m0 + 3s);
    auto now = t.per_minute(m0 + 30s);
    REQUIRE(now.size() == throughput_history::minutes);
    CHECK(now.back() == 1800);
    CHECK(std::accumulate(now.begin(), now.end(), std::uint64_t{0}) == 1800);
    // A lower count is a new attempt: it counts from 0 again. The next minute fills its own slot.
    t.on_upload_progress(1, 200, m0 + 61s);
    t.on_upload_progress(1, 200, m0 + 62s);  // no new bytes
    auto later = t.per_minute(m0 + 90s);
    CHECK(later[throughput_history::minutes - 1] == 200);
    CHECK(later[throughput_history::minutes - 2] == 1800);
    // forget(): the next report of that job starts from 0.
    t.forget(2);
    t.on_upload_progress(2, 300, m0 + 63s);
    CHECK(t.per_minute(m0 + 90s).back() == 500);
    // An hour later the first minute has left the window, and its slot is reused from 0.
    auto hour = t.per_minute(m0 + 60min + 30s);
    CHECK(hour.front() == 500);
    CHECK(std::accumulate(hour.begin(), hour.end(), std::uint64_t{0}) == 500);
    t.add(7, m0 + 60min + 10s);
    CHECK(t.per_minute(m0 + 60min + 30s).back() == 7);
    CHECK(t.per_minute(m0 + 3h).back() == 0);
}

TEST_CASE("status page routes: / and /status.json only when served, with a strict policy", "[status-page]") {
    auto render = [] { return std::string("labsync_up 1\n"); };
    const std::string root = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(metrics_response(root, render).rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
    int calls = 0;
    metrics_http::status_fn status = [&] {
        ++calls;
        return json{{"equipment", json::array({{{"name", "eq1"}}})}, {"note", "</script><b id=x>"}};
    };
    auto page = metrics_response(root, render, status);
    CHECK(page.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK_THAT(page, Catch::Contains("Content-Type: text/html; charset=utf-8\r\n"));
    CHECK_THAT(page, Catch::Contains("Content-Security-Policy: default-src 'none';"));
    CHECK_THAT(page, Catch::Contains("Cache-Control: no-store\r\n"));
    CHECK_THAT(page, Catch::Contains("\\u003c/script\\u003e\\u003cb id=x\\u003e"));
    CHECK(page.find("</script><b id=x>") == std::string::npos);
    auto data = metrics_response("GET /status.json?t=1 HTTP/1.1\r\n\r\n", render, status);
    CHECK_THAT(data, Catch::Contains("Content-Type: application/json\r\n"));
    CHECK(json::parse(body_of(data))["note"] == "</script><b id=x>");
    auto head = metrics_response("HEAD /status.json HTTP/1.1\r\n\r\n", render, status);
    CHECK(body_of(head).empty());
    CHECK(calls == 3);
    CHECK(body_of(metrics_response("GET /metrics HTTP/1.1\r\n\r\n", render, status)) == "labsync_up 1\n");
    CHECK(metrics_response("GET /x HTTP/1.1\r\n\r\n", render, status).rfind("HTTP/1.1 404", 0) == 0);
    CHECK(metrics_response("POST / HTTP/1.1\r\n\r\n", render, status).rfind("HTTP/1.1 405", 0) == 0);
    CHECK(calls == 3);
}

TEST_CASE("status page data: the status document plus transport, problems, throughput", "[status-page]") {
    labsync::engine::engine_config config;
    labsync::engine::equipment_config eq;
    eq.name = "eq1";
    eq.runs_root = "/data/eq1";
    config.equipment.push_back(eq);
    admin_response status;
    status.data = {
        {"version", 1},
        {"equipment", json::array({{{"name", "eq1"}}, {{"name", "gone"}, {"configured", false}}})}};
    std::vector<std::uint64_t> minutes(throughput_history::minutes, 0);
    minutes.back() = 42;
    json page = status_page_json(status, nullptr, config, minutes);
    CHECK(page["version"] == 1);
    CHECK(page["equipment"][0]["transport"] == "http_put");
    CHECK(page["equipment"][0]["runs_root"] == "/data/eq1");
    CHECK_FALSE(page["equipment"][1].contains("transport"));
    CHECK(page["problems"] == json::array());
    CHECK(page["throughput"]["bucket_s"] == 60);
    CHECK(page["throughput"]["bytes"].size() == throughput_history::minutes);
    CHECK(page["throughput"]["bytes"].back() == 42);
    CHECK(page["generated_at"].get<std::string>().size() == 24);  // 2026-01-01T00:00:00.000Z
    CHECK_FALSE(page.contains("unavailable"));

    admin_response reloading{false, "unavailable", "syncd is reloading its configuration; try again", {}};
    json down = status_page_json(reloading, nullptr, config, minutes);
    CHECK(down["unavailable"] == "syncd is reloading its configuration; try again");
    CHECK(down["equipment"] == json::array());
}

TEST_CASE("status page HTML: self-contained, the data embedded once and inert", "[status-page]") {
    json data{{"problems", json::array({{{"last_error", "'<script>alert(1)</script>' & \"q\""}}})}};
    std::string embedded = json_for_script(data);
    CHECK(embedded.find_first_of("<>&") == std::string::npos);
    CHECK(json::parse(embedded) == data);
    std::string page = render_status_page(data);
    CHECK_THAT(page, Catch::Contains(embedded));
    CHECK(page.find("LABSYNC_STATUS_DATA") == std::string::npos);
    CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
    // Nothing is loaded from elsewhere: no URL (but SVG's namespace name) and no external script,
    // style or image.
    const std::string svg_namespace = "\"http://www.w3.org/2000/svg\"";
    page.erase(page.find(svg_namespace), svg_namespace.size());
    for (const char* external : {"http://", "https://", "src=", "<link", "@import", "url("})
        CHECK(page.find(external) == std::string::npos);
}
