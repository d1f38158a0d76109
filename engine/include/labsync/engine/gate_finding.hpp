#pragma once
// One finding of the pre-sync gate (SPEC §9).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::engine {

enum class severity { soft, hard };

std::string_view to_string(severity s) noexcept;

struct gate_finding {
    severity level = severity::hard;
    std::string code;     // e.g. "marker_missing", "symlink", "too_large", "external_timeout"
    std::string message;  // what, where, why
    std::string path;     // relative to the run; empty = the run itself

    friend bool operator==(const gate_finding&, const gate_finding&) = default;
};

inline bool has_hard(const std::vector<gate_finding>& findings) {
    for (const auto& f : findings)
        if (f.level == severity::hard) return true;
    return false;
}

// One line naming why a run is blocked, for the job's last_error and the log: "[code] message"
// for each hard finding ("path: " first when the message does not name it), each message cut at
// 200 characters, at most `max_findings` of them, then "(+N more: syncd show RUN)".
std::string describe_blocking(const std::vector<gate_finding>& findings, std::size_t max_findings = 5);

// JSON array text [{"severity","code","message","path"}...] for events and the admin socket.
std::string to_json(const std::vector<gate_finding>& findings);

// The findings a job's `created` event recorded (its message ends " findings=<to_json>");
// empty when the message holds none or they cannot be parsed.
std::vector<gate_finding> findings_from_event(std::string_view message);

}  // namespace labsync::engine
