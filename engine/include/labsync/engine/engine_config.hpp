#pragma once
// The engine's configuration as a plain struct (SPEC §4, §7, §9, §10). The daemon fills it from its
// TOML file; an embedding acquisition server fills it in code. No I/O here; `validate()` in
// engine.hpp checks it and says which field is wrong and why.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace labsync::engine {

// Exponential backoff with full jitter for network / unknown errors (SPEC §7).
struct backoff_config {
    std::chrono::milliseconds base{std::chrono::seconds(2)};
    std::chrono::milliseconds cap{std::chrono::minutes(10)};
    int max_attempts = 10;  // transport attempts before the job is failed
};

enum class transport_kind { http_put, rsync_ssh, rclone };

std::string_view to_string(transport_kind kind) noexcept;

struct http_put_params {
    std::string url;                    // receiver base URL, e.g. "https://collector:8443"
    std::filesystem::path token_file;   // bearer token (first line); empty = none
    std::filesystem::path ca_file;      // empty = system trust store
    std::filesystem::path client_cert;  // mTLS; empty = none
    std::filesystem::path client_key;
    std::string code_commit;  // sent as X-Code-Commit when not empty
    int zstd_level = 3;
    std::chrono::milliseconds connect_timeout{10'000};  // resolve + connect + TLS handshake
    std::chrono::milliseconds io_timeout{60'000};       // one read or write making no progress
};

struct rsync_ssh_params {
    std::string host;
    std::string user;
    int port = 22;
    std::filesystem::path key_file;
    std::filesystem::path known_hosts;
    std::string remote_dir;  // the equipment's directory on the remote; runs land below it
    std::string rsync_binary = "rsync";
    std::string ssh_binary = "ssh";
    std::vector<std::string> extra_args;
};

struct rclone_params {
    std::string remote;                 // "nas:instruments/scope-1" (any rclone remote)
    std::filesystem::path config_file;  // empty = rclone's default
    std::string rclone_binary = "rclone";
    std::vector<std::string> extra_args;
};

// One transport per equipment. Only the params of `kind` are used; `extra` carries
// driver-specific keys the engine passes through untouched.
struct transport_config {
    transport_kind kind = transport_kind::http_put;
    http_put_params http_put;
    rsync_ssh_params rsync_ssh;
    rclone_params rclone;
    std::map<std::string, std::string> extra;
};

// The pre-sync gate (SPEC §9). 0 = no limit.
struct gate_config {
    std::uint64_t max_bytes = 0;
    std::uint64_t max_files = 0;
    bool meta_json_required = false;
    // Optional external validator: argv (argv[0] is the program, no shell); the run path is
    // appended as the last argument. It prints {"findings":[{severity,code,message,path}]}.
    std::vector<std::string> external_command;
    std::chrono::milliseconds external_timeout{std::chrono::seconds(60)};
};

// Cleanup when retention has passed OR free space on the run's filesystem is under the
// watermark (either limit; 0 = not used).
struct free_space_watermark {
    std::uint64_t min_free_bytes = 0;
    double min_free_percent = 0.0;
};

struct equipment_config {
    std::string name;                 // common::valid_equipment_id (SPEC §3)
    std::filesystem::path runs_root;  // each sub-directory is a run
    std::string marker_name = "done.marker";
    std::chrono::seconds settle{30};  // nothing modified within this long before shipping
    transport_config transport;
    int max_parallel = 1;                                        // this equipment's concurrent jobs
    std::chrono::seconds retention{std::chrono::hours(24 * 7)};  // keep verified runs locally this long
    bool cleanup_enabled = true;  // false = never delete local runs of this equipment
    free_space_watermark watermark;
    gate_config gate;
    std::string bandwidth;  // timetable text (bandwidth_timetable.hpp); empty = no limit
    bool watch = true;      // inotify + periodic rescan of runs_root
};

struct engine_config {
    std::filesystem::path state_dir;       // jobs.db lives here
    std::filesystem::path outbox_dir;      // http_put archives: outbox/<equipment>/<run>.tar.zst
    std::filesystem::path quarantine_dir;  // quarantine/<equipment>/<run>/
    // Quarantined runs exist nowhere else: kept until an operator acts (0, the default). A value
    // > 0 is the operator's explicit opt-in to delete entries older than that many days.
    int quarantine_keep_days = 0;
    int max_parallel_global = 4;               // jobs in flight across all equipment
    std::chrono::seconds rescan_interval{60};  // safety-net rescan of runs roots; 0 = off
    std::chrono::seconds cleanup_interval{std::chrono::minutes(5)};  // retention / watermark check
    unsigned cpu_threads = 0;  // thread pool for hashing/packing; 0 = hardware threads
    backoff_config backoff;
    std::string bandwidth;  // global timetable; empty = no limit
    std::vector<equipment_config> equipment;
};

}  // namespace labsync::engine
