// See daemon_fixture.hpp.
#include "daemon_fixture.hpp"

#include "admin/admin_server.hpp"

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

namespace labsync::test {

daemon_fixture::daemon_fixture(daemon_options options) : options_(std::move(options)) {
    std::filesystem::create_directories(runs_root());
    if (!options_.token.empty()) write_secret_file(dir() / "token", options_.token + "\n");
    write_file(config_path(), config_text());
}

daemon_fixture::~daemon_fixture() {
    if (process_ && process_->running()) process_->stop(SIGKILL, std::chrono::seconds(5));
}

void daemon_fixture::rewrite(daemon_options options) {
    options_ = std::move(options);
    if (!options_.token.empty()) write_secret_file(dir() / "token", options_.token + "\n");
    write_file(config_path(), config_text());
}

std::string daemon_fixture::metrics_address() const {
    const std::string& out = process_->stdout_so_far();
    auto at = out.rfind("metrics=");
    if (at == std::string::npos) return {};
    auto end = out.find_first_of(" \n", at);
    return out.substr(at + 8, end - at - 8);
}

std::string daemon_fixture::config_text() const {
    std::string transport = fmt::format(
        "kind = \"http_put\"\nurl = \"{}\"\nconnect_timeout = \"5s\"\nio_timeout = \"60s\"\n", options_.url);
    if (!options_.ca_file.empty()) transport += fmt::format("ca_file = \"{}\"\n", options_.ca_file.string());
    if (!options_.token.empty())
        transport += fmt::format("token_file = \"{}\"\n", (dir() / "token").string());
    return fmt::format(R"([global]
state_dir = "{dir}/state"
admin_socket = "{dir}/syncd.sock"
metrics_listen = "127.0.0.1:0"
rescan_interval = "2s"
cleanup_interval = "1s"
watchdog_stall = "{stall}"
{extra_global}
[global.backoff]
base = "200ms"
cap = "1s"

[equipment.eq1]
runs_root = "{dir}/runs/eq1"
settle = "0s"
retention = "{retention}"
bandwidth = "{bandwidth}"

[equipment.eq1.transport]
{transport}
{extra_equipment}
)",
                       fmt::arg("dir", dir().string()), fmt::arg("stall", options_.watchdog_stall),
                       fmt::arg("extra_global", options_.extra_global),
                       fmt::arg("bandwidth", options_.bandwidth), fmt::arg("retention", options_.retention),
                       fmt::arg("transport", transport),
                       fmt::arg("extra_equipment", options_.extra_equipment));
}

void daemon_fixture::start() {
    process_options po;
    po.env = options_.env;
    process_ = std::make_unique<child_process>(
        std::vector<std::string>{LABSYNC_SYNCD, "run", "--config", config_path().string(), "--log-format",
                                 options_.log_format, "--log-level", "debug"},
        po);
    if (!process_->wait_for_line("syncd ready", std::chrono::seconds(20)))
        throw std::runtime_error("syncd did not become ready: " + process_->stderr_text());
}

std::optional<run_result> daemon_fixture::stop(int sig, std::chrono::milliseconds timeout) {
    return process_->stop(sig, timeout);
}

std::filesystem::path daemon_fixture::write_run(const std::string& run_id, int files, std::size_t bytes,
                                                const std::string& equipment) {
    auto run = runs_root(equipment) / run_id;
    std::filesystem::create_directories(run);
    std::mt19937_64 rng(std::hash<std::string>{}(run_id));
    for (int i = 0; i < files; ++i) {
        std::string data(bytes, '\0');
        for (std::size_t k = 0; k + 8 <= data.size(); k += 8) {
            std::uint64_t v = rng();
            std::memcpy(&data[k], &v, 8);
        }
        write_file(run / fmt::format("data-{}.bin", i), data);
    }
    write_file(run / "done.marker", "");
    return run;
}

apps::admin_response daemon_fixture::admin(const apps::admin_request& request) {
    std::string why;
    auto r = apps::admin_call(socket(), request, why, 30'000);
    if (!r) throw std::runtime_error("admin call failed: " + why);
    return *r;
}

nlohmann::json daemon_fixture::status() {
    auto r = admin({.op = apps::admin_op::status});
    if (!r.ok) throw std::runtime_error("status failed: " + r.message);
    return r.data;
}

std::optional<nlohmann::json> daemon_fixture::job(const std::string& run_id) {
    auto r = admin({.op = apps::admin_op::list});
    if (!r.ok) return std::nullopt;
    for (const auto& j : r.data["jobs"])
        if (j["run_id"] == run_id) return j;
    return std::nullopt;
}

std::optional<nlohmann::json> daemon_fixture::wait_job(const std::string& run_id,
                                                       const std::function<bool(const nlohmann::json&)>& pred,
                                                       std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::optional<nlohmann::json> last;
    while (std::chrono::steady_clock::now() < deadline) {
        last = job(run_id);
        if (last && pred(*last)) return last;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the daemon's state
    }
    return std::nullopt;
}

receiver_options tls_receiver() {
    receiver_options o;
    o.tls = true;
    return o;
}

daemon_options to(const receiver_fixture& rx) {
    daemon_options o;
    o.url = rx.url();
    o.ca_file = rx.pki().ca_cert;
    o.token = rx.token();
    return o;
}

std::function<bool(const nlohmann::json&)> state_is(const std::string& s) {
    return [s](const nlohmann::json& j) { return j["state"] == s; };
}

bool wait_mid_upload(daemon_fixture& d, const std::string& run_id, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json s;
    while (std::chrono::steady_clock::now() < deadline) {
        s = d.status();
        for (const auto& e : s["equipment"])
            for (const auto& j : e["current"])
                if (j["run_id"] == run_id && j["progress"].is_object() &&
                    j["progress"]["phase"] == "uploading" && j["progress"]["done"].get<std::uint64_t>() > 0)
                    return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    WARN("never saw " << run_id << " mid-upload; last status " << s.dump() << "\n" << d.stderr_text());
    return false;
}

std::optional<nlohmann::json> receiver_record(const std::string& run_url, const std::filesystem::path& ca,
                                              const std::string& token) {
    std::vector<std::string> argv{"curl", "-sS", "--fail"};
    if (!ca.empty()) argv.insert(argv.end(), {"--cacert", ca.string()});
    argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token, run_url});
    auto r = run_process(argv);
    if (r.exit_code != 0) return std::nullopt;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
}

}  // namespace labsync::test
