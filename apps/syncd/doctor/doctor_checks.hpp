#pragma once
// `syncd doctor`: each check returns ✓/✗ with a detail and, on ✗, a hint that tells the operator
// what to do. The checks do I/O (files, SQLite, subprocesses, the network) but no writes besides a
// probe file in the state directory.

#include "daemon_config.hpp"

#include "labsync/queue/job_store.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labsync::apps {

struct doctor_check {
    std::string
        name;  // "config", "state_dir", "store", "outbox_space", "binary", "destination", "clock", ...
    std::string subject;  // what was checked: a path, an equipment, a binary
    bool ok = true;
    bool warning = false;  // ok, but worth fixing (shown with `!` and its hint)
    std::string detail;
    std::string hint;  // set when !ok or warning
};

inline doctor_check make_check(std::string name, std::string subject) {
    doctor_check c;
    c.name = std::move(name);
    c.subject = std::move(subject);
    return c;
}

struct doctor_options {
    std::chrono::milliseconds network_timeout{10'000};
    std::uint64_t min_outbox_free = 1ULL << 30;  // below: ✗
};

// Runs every check of a loaded configuration (the config check itself is done by the caller).
std::vector<doctor_check> run_doctor_checks(const daemon_config& config, const doctor_options& options);

// The job store opened read-only without replay (safe next to a running daemon); nullopt when
// it does not exist or cannot be opened (the "store" check reports why).
std::optional<queue::job_store> open_store_to_inspect(const std::filesystem::path& db);
// Runs of `eq` without their marker and without a live job, with marker-like files of another
// name (doctor_markers.cpp): ✗ when such a file exists, ! when a run only waits for its marker.
doctor_check check_unmarked_runs(const engine::equipment_config& eq, const std::filesystem::path& db);

// One subprocess run with a deadline (used by the reachability checks).
struct command_result {
    int exit_code = -1;  // -1: could not start or killed at the deadline
    bool timed_out = false;
    bool not_found = false;
    std::string out, err;
};
command_result run_command(const std::vector<std::string>& argv, const std::string& stdin_data,
                           std::chrono::milliseconds timeout);

}  // namespace labsync::apps
