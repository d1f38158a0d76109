// The status page in a real browser: a real `syncd run` shipping to a real syncd-receiver (TLS,
// token), one equipment with a wrong token (its job fails), a run blocked by the gate whose
// reason carries markup, a run uploading under a bandwidth limit. Headless Chromium loads GET /,
// runs the page's script (including one refresh through /status.json) and dumps the rendered
// DOM, which is checked; a screenshot is saved in the build dir (status-page.png).
// Skipped (exit 77) when chromium is not installed (scripts/install-deps.sh installs it).
#include "daemon_fixture.hpp"
#include "receiver_fixture.hpp"
#include "skip.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <csignal>
#include <regex>

using namespace labsync;
using namespace labsync::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string find_chromium() {
    auto found = run_process({"sh", "-c", "command -v chromium"});
    std::string path = found.out.substr(0, found.out.find('\n'));
    return found.exit_code == 0 ? path : std::string();
}

// Text as Chromium serializes a text node: &, < and > escaped.
std::string as_dom_text(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '&')
            out += "&amp;";
        else if (c == '<')
            out += "&lt;";
        else if (c == '>')
            out += "&gt;";
        else
            out += c;
    }
    return out;
}

// Runs headless Chromium on `url` with `args` (--dump-dom, --screenshot=...); its own profile and
// HOME under `dir`, no sandbox (tests run as root).
run_result chromium(const std::string& binary, const std::filesystem::path& dir, const std::string& url,
                    std::vector<std::string> args) {
    std::vector<std::string> argv{
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--user-data-dir=" + (dir / "profile").string(), "--window-size=1280,1100", "--hide-scrollbars",
        // Lets the page's 3 s refresh fire (virtual time waits for its fetch).
        "--virtual-time-budget=4500"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(url);
    process_options options;
    options.env = {{"HOME", dir.string()}};
    options.timeout = 90s;
    return run_process(argv, options);
}

}  // namespace

TEST_CASE("status page in headless Chromium: equipment, counts, uploads, failures, blocks, throughput",
          "[e2e][status-page]") {
    const std::string browser = find_chromium();
    if (browser.empty()) skip_test("chromium is not installed (scripts/install-deps.sh installs it)");
    receiver_fixture rx(tls_receiver());
    auto options = to(rx);
    options.bandwidth = "1M";  // run-slow takes about 40 s to upload: the browser sees it in flight
    daemon_fixture d(options);
    // eq2 ships to the same receiver with a token it refuses: auth errors fail the job at once.
    const auto eq2_token = d.dir() / "eq2.token";
    write_secret_file(eq2_token, "tok-not-known-to-the-receiver\n");
    std::filesystem::create_directories(d.runs_root("eq2"));
    options.extra_equipment =
        fmt::format(R"(
[equipment.eq2]
runs_root = "{root}"
settle = "0s"

[equipment.eq2.transport]
kind = "http_put"
url = "{url}"
ca_file = "{ca}"
token_file = "{token}"
)",
                    fmt::arg("root", d.runs_root("eq2").string()), fmt::arg("url", rx.url()),
                    fmt::arg("ca", rx.pki().ca_cert.string()), fmt::arg("token", eq2_token.string()));
    d.rewrite(options);
    d.start();

    d.write_run("run-small", 2, 256 << 10);
    REQUIRE(d.wait_job("run-small", state_is("cleaned")));
    // A fifo cannot be shipped: the gate blocks the run and its reason names the file.
    const std::string markup = "<b id=\"injected\">x<script>document.title='pwned'";
    std::filesystem::create_directories(d.runs_root() / "run-blocked");
    REQUIRE(::mkfifo((d.runs_root() / "run-blocked" / markup).c_str(), 0600) == 0);
    d.write_run("run-blocked", 1, 1024);
    auto blocked = d.wait_job("run-blocked", state_is("blocked_by_validation"));
    REQUIRE(blocked);
    const std::string block_reason = (*blocked)["last_error"].get<std::string>();
    REQUIRE_THAT(block_reason, Catch::Contains(markup));
    d.write_run("run-denied", 1, 1024, "eq2");
    auto denied = d.wait_job("run-denied", state_is("failed"));
    REQUIRE(denied);
    const std::string deny_reason = (*denied)["last_error"].get<std::string>();
    d.write_run("run-slow", 40, 1 << 20);
    REQUIRE(wait_mid_upload(d, "run-slow", 90s));

    const std::string url = "http://" + d.metrics_address() + "/";
    auto dom = chromium(browser, d.dir(), url, {"--dump-dom"});
    INFO("chromium stderr: " << dom.err);
    REQUIRE(dom.exit_code == 0);
    const std::string& html = dom.out;
    INFO("rendered DOM: " << html);
    // The embedded data rendered, then at least one refresh through /status.json.
    std::smatch rendered;
    REQUIRE(std::regex_search(html, rendered, std::regex("data-rendered=\"(\\d+)\"")));
    CHECK(std::stoi(rendered[1]) >= 2);
    CHECK_THAT(html, Catch::Contains("<title>labsync · syncd status</title>"));
    // Equipment with their transport, counts per state.
    CHECK_THAT(html, Catch::Contains("<tr data-equipment=\"eq1\"><td><b>eq1</b></td><td>http_put</td>"));
    CHECK_THAT(html, Catch::Contains("<tr data-equipment=\"eq2\"><td><b>eq2</b></td><td>http_put</td>"));
    CHECK_THAT(html, Catch::Contains("data-state=\"cleaned\"><b>1</b><span>cleaned</span>"));
    CHECK_THAT(html, Catch::Contains("data-state=\"failed\"><b>1</b><span>failed</span>"));
    CHECK_THAT(html, Catch::Contains("data-state=\"blocked_by_validation\"><b>1</b><span>blocked</span>"));
    CHECK_THAT(html, Catch::Contains("data-state=\"running\"><b>1</b><span>running</span>"));
    // The upload in flight: its phase and a progress bar with a width.
    std::regex job(
        "<div class=\"job\" data-run=\"run-slow\" data-equipment=\"eq1\">.*?"
        "<span class=\"phase\">uploading</span>.*?role=\"progressbar\" aria-valuenow=\"\\d+\">"
        "<div class=\"fill\" style=\"width: [0-9.]+%;\">");
    CHECK(std::regex_search(html, job));
    // Failures and blocks with their reasons, as text.
    CHECK_THAT(html, Catch::Contains("<tr data-run=\"run-denied\" data-state=\"failed\">"));
    CHECK_THAT(html, Catch::Contains(as_dom_text(deny_reason)));
    CHECK_THAT(html, Catch::Contains("<tr data-run=\"run-blocked\" data-state=\"blocked_by_validation\">"));
    CHECK_THAT(html, Catch::Contains(as_dom_text(block_reason)));
    CHECK(html.find("<b id=\"injected\">") == std::string::npos);
    CHECK(html.find("pwned</title>") == std::string::npos);
    // The throughput chart: bars, and the bytes of the last hour (run-small and run-slow so far).
    CHECK_THAT(html, Catch::Contains("<rect class=\"bar-rect\""));
    std::smatch total;
    REQUIRE(std::regex_search(html, total,
                              std::regex("id=\"throughput-total\">([0-9.]+) (B|KiB|MiB) in the last hour")));
    CHECK((total[2] != "B" || std::stod(total[1]) > 0));

    const auto png = std::filesystem::path(LABSYNC_TEST_BINARY_DIR) / "status-page.png";
    std::filesystem::remove(png);
    auto shot = chromium(browser, d.dir(), url, {"--screenshot=" + png.string()});
    INFO("chromium stderr: " << shot.err);
    CHECK(shot.exit_code == 0);
    REQUIRE(std::filesystem::exists(png));
    CHECK(std::filesystem::file_size(png) > 10'000);
    CHECK(d.stop(SIGTERM)->exit_code == 0);
}
