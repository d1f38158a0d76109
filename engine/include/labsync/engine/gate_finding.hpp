#pragma once
// One finding of the pre-sync gate (SPEC §9).

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

// JSON array text [{"severity","code","message","path"}...] for events and the admin socket.
std::string to_json(const std::vector<gate_finding>& findings);

}  // namespace labsync::engine
