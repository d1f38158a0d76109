#pragma once
// The engine's configuration as a plain struct (SPEC §4, §7, §9, §10). The daemon fills it from its
// TOML file; an embedding acquisition server fills it in code. No I/O here; `validate()` in
// engine.hpp checks it and says which field is wrong and why.

#include "labsync/transports/http_put_config.hpp"
#include "labsync/transports/rclone_config.hpp"
#include "labsync/transports/rsync_ssh_config.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace labsync::engine {

// Exponential backoff with full jitter for network / unknown errors (SPEC §7).
struct backoff_config {
    std::chrono::milliseconds base{std::chrono::seconds(2)};
    std::chrono::milliseconds cap{std::chrono::minutes(10)};
    int max_attempts = 10;  // transport attempts before the job is failed
};

// One transport per equipment: the driver's own config type (transports/*_config.hpp), with its
// one validate(). The engine adds only what is its own: http_put's outbox (outbox_dir) and
// rclone's notice log (the engine log).
using transport_config =
    std::variant<transports::http_put_config, transports::rsync_ssh_config, transports::rclone_config>;

// The alternatives of transport_config, in its order.
enum class transport_kind { http_put, rsync_ssh, rclone };

std::string_view to_string(transport_kind kind) noexcept;
inline transport_kind kind_of(const transport_config& transport) noexcept {
    return static_cast<transport_kind>(transport.index());
}

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
    // Re-hash the whole run before deleting it instead of comparing its stat fingerprint
    // (docs/architecture.md, "Cleanup interlock"); unset = engine_config::cleanup_rehash.
    std::optional<bool> cleanup_rehash;
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
    unsigned cpu_threads = 0;     // thread pool for hashing/packing; 0 = hardware threads
    bool cleanup_rehash = false;  // every equipment's default for equipment_config::cleanup_rehash
    backoff_config backoff;
    std::string bandwidth;  // global timetable; empty = no limit
    std::vector<equipment_config> equipment;
};

}  // namespace labsync::engine
