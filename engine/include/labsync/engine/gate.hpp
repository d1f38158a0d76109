#pragma once
// The pre-sync gate (SPEC §9). Split in two so the decision is testable without a file system:
// collect_gate_inputs() does the I/O (walks the run with the verifier's safe walker, reads
// meta.json, runs the external command), evaluate_gate() decides (pure).
//
// Hard findings (-> blocked_by_validation until an operator overrides):
//   marker_missing          the marker file is absent (only when the marker is required)
//   symlink_escape          a symlink whose target leaves the run (absolute, or ".." past the root)
//   special_file            a device, socket or fifo
//   unreadable              an entry the walker could not read
//   walk_failed             the run itself could not be walked
//   too_large / too_many_files   over gate.max_bytes / gate.max_files
//   meta_json_missing / meta_json_invalid   when meta_json_required
//   external_*              the external command crashed, timed out, printed bad JSON, or said so
// Soft findings (recorded, not blocking): a symlink inside the run (never shipped), a malformed
// meta.json when not required, a missing marker on an API enqueue, external soft findings.
// Not settled (something modified within settle seconds) is not a finding: the outcome carries
// `settled_at`, the time from which the run may ship.

#include "labsync/engine/engine_config.hpp"
#include "labsync/engine/gate_finding.hpp"
#include "labsync/verifier/run_walker.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labsync::engine {

struct symlink_info {
    std::string path;    // relative to the run
    std::string target;  // readlink text
};

struct gate_inputs {
    verifier::walk_result walk;
    std::vector<symlink_info> symlinks;  // targets of walk findings of kind symlink
    bool marker_present = false;
    std::optional<std::string> meta_json;        // contents, when the file exists
    std::optional<std::string> meta_json_error;  // when it exists but could not be read
    std::vector<gate_finding> external;          // findings of the external command (incl. its failures)
};

struct gate_outcome {
    std::vector<gate_finding> findings;
    std::chrono::system_clock::time_point newest_mtime{};  // of the run's files (epoch when none)
    std::chrono::system_clock::time_point settled_at{};    // newest mtime + settle (saturated)
    std::uint64_t total_bytes = 0;
    std::uint64_t file_count = 0;

    bool blocked() const { return has_hard(findings); }
};

// True when the symlink at `link_path` (relative to the run) pointing at `target` would leave the
// run if followed (decided lexically: absolute targets and ".." above the root escape).
bool symlink_escapes(std::string_view link_path, std::string_view target);

gate_outcome evaluate_gate(const gate_inputs& inputs, const equipment_config& equipment,
                           bool marker_required);

// The newest mtime among the walked files; the epoch when there are none.
std::chrono::system_clock::time_point newest_mtime(const verifier::walk_result& walk);

// Why a run that has its marker is not shipped yet, for `status` and `doctor`:
// "mtime 1 day in the future, waiting" (the newest file's mtime is ahead of `now`: the run waits
// until that moment plus settle), else "settling, ships in 40 seconds".
std::string describe_settle_wait(std::chrono::system_clock::time_point newest_mtime,
                                 std::chrono::system_clock::time_point settled_at,
                                 std::chrono::system_clock::time_point now);

// "40 seconds", "12 minutes", "3 hours", "1 day", "292 years" (rounded down, at least 1 unit).
std::string human_span(std::chrono::system_clock::duration span);

// Does the I/O for evaluate_gate(). Blocking (walks the run, may run a subprocess up to
// gate.external_timeout): call it on a worker thread.
gate_inputs collect_gate_inputs(const std::filesystem::path& run_path, const equipment_config& equipment);

}  // namespace labsync::engine
