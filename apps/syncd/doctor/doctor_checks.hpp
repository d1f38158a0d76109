#pragma once
// `syncd doctor`: each check returns ✓/✗ with a detail and, on ✗, a hint that tells the operator
// what to do. The checks do I/O (files, SQLite, subprocesses, the network) but no writes besides a
// probe file in the state directory (not made when checking as another user).

#include "daemon_config.hpp"
#include "doctor/file_access.hpp"
#include "labsync/engine/engine_config.hpp"
#include "labsync/transports/receiver_access.hpp"

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
    // Whose file access is checked (--as-user; default: the user running doctor). When it is not
    // this process's user, the state dir, runs roots and credential files are judged from their
    // owner and mode (file_access.hpp) instead of by trying.
    account as = current_account();
};

// Runs every check of a loaded configuration (the config check itself is done by the caller).
std::vector<doctor_check> run_doctor_checks(const daemon_config& config, const doctor_options& options);

// The destination check of one equipment (doctor_remote.cpp): http_put asks the receiver
// `POST /v1/ping?equipment=E` with the equipment's own credentials; rsync_ssh logs in with ssh
// BatchMode; rclone lists the remote.
doctor_check check_destination(const engine::equipment_config& equipment, const doctor_options& options);

// The job store opened read-only without replay (safe next to a running daemon); nullopt when
// it does not exist or cannot be opened (the "store" check reports why).
std::optional<queue::job_store> open_store_to_inspect(const std::filesystem::path& db);
// Runs of `eq` without their marker and without a live job, with marker-like files of another
// name (doctor_markers.cpp): ✗ when such a file exists, ! when a run only waits for its marker.
doctor_check check_unmarked_runs(const engine::equipment_config& eq, const std::filesystem::path& db);

// What an answer to the per-equipment ping means, and the fix (access_hint.cpp, pure).
struct access_explanation {
    std::string detail;
    std::string hint;  // empty when the credentials may write the equipment
};
access_explanation explain_access(const transports::access_answer& answer, const std::string& equipment,
                                  const transports::http_put_config& config);

}  // namespace labsync::apps
