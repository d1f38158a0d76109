#pragma once
// Error codes of the engine module.

#include <string>
#include <system_error>

namespace labsync::engine {

enum class errc {
    invalid_config = 1,  // a field of engine_config is wrong (message names it)
    unknown_equipment,   // the run path is not below any configured runs root
    invalid_run_path,    // not a directory, a symlink, or a run id refused by common::check_id
    no_job,              // no job for this run
    wrong_state,         // the operation does not apply to the job's current state
    store_failed,        // the job store refused or failed (message carries its text)
    not_open,            // open() was not called or failed
    closed,              // the engine was closed
    bad_timetable,       // a bandwidth timetable could not be parsed
};

const std::error_category& engine_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

// An error_code plus one human line naming what, where and why.
struct engine_error {
    std::error_code code;
    std::string message;
    explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

}  // namespace labsync::engine

template <>
struct std::is_error_code_enum<labsync::engine::errc> : std::true_type {};
