#pragma once
// A real `syncd run` for end-to-end tests: writes a config (one http_put equipment "eq1" shipping
// to a receiver_fixture, or any URL), starts the daemon, talks to its admin socket in-process,
// stops it by PID. Each fixture has its own temp dir (runs/, state/, socket).

#include "admin/admin_protocol.hpp"
#include "process.hpp"
#include "receiver_fixture.hpp"
#include "temp_dir.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace labsync::test {

struct daemon_options {
    std::string url;                // receiver base URL
    std::filesystem::path ca_file;  // empty: none
    std::string token;              // written to a token file; empty: none
    std::string bandwidth;          // equipment timetable ("" = unlimited)
    std::string watchdog_stall = "15m";
    std::string retention = "0s";            // equipment eq1
    std::string extra_global;                // appended to [global]
    std::string extra_equipment;             // appended after [equipment.eq1.transport]
    std::map<std::string, std::string> env;  // e.g. NOTIFY_SOCKET
    std::string log_format = "text";         // --log-format of `syncd run`
};

class daemon_fixture {
public:
    explicit daemon_fixture(daemon_options options);
    ~daemon_fixture();

    const std::filesystem::path& dir() const noexcept { return temp_.path(); }
    std::filesystem::path config_path() const { return temp_.path() / "syncd.toml"; }
    std::filesystem::path runs_root(const std::string& equipment = "eq1") const {
        return temp_.path() / "runs" / equipment;
    }
    std::filesystem::path socket() const { return temp_.path() / "syncd.sock"; }
    std::string config_text() const;
    // Replaces the options and rewrites the config file (the daemon sees it on SIGHUP or restart).
    void rewrite(daemon_options options);
    std::string metrics_address() const;  // "127.0.0.1:PORT" from the ready line

    // Starts `syncd run` and waits for "syncd ready". Throws with its stderr when it does not come.
    void start();
    child_process& process() { return *process_; }
    std::optional<run_result> stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(35));
    std::string stderr_text() const { return process_ ? process_->stderr_text() : std::string(); }

    // Writes a run of `files` random files of `bytes` each plus the marker; returns its path.
    std::filesystem::path write_run(const std::string& run_id, int files, std::size_t bytes,
                                    const std::string& equipment = "eq1");

    // One admin request in-process (throws when the daemon does not answer).
    apps::admin_response admin(const apps::admin_request& request);
    nlohmann::json status();
    std::optional<nlohmann::json> job(const std::string& run_id);  // job_json of the run (list), if any
    // Polls the admin socket every 50 ms until `pred(job)` holds for the run's job.
    std::optional<nlohmann::json> wait_job(const std::string& run_id,
                                           const std::function<bool(const nlohmann::json&)>& pred,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(40));

private:
    temp_dir temp_;
    daemon_options options_;
    std::unique_ptr<child_process> process_;
};

// A TLS receiver, and a daemon shipping to it (its URL, CA and token).
receiver_options tls_receiver();
daemon_options to(const receiver_fixture& rx);
// A wait_job predicate: the job is in state `s`.
std::function<bool(const nlohmann::json&)> state_is(const std::string& s);
// Waits until the run's job reports uploaded bytes in `syncd status` (it is mid-upload); false,
// with a WARN naming the last status, when it does not within `timeout`.
bool wait_mid_upload(daemon_fixture& d, const std::string& run_id,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20));

// The receiver's record of a run (GET /v1/runs/E/R) through curl; nullopt on 404 or failure.
std::optional<nlohmann::json> receiver_record(const std::string& run_url, const std::filesystem::path& ca,
                                              const std::string& token);

}  // namespace labsync::test
