// See since_arg.hpp.
#include "cli/since_arg.hpp"

#include "labsync/config/config_values.hpp"

#include <fmt/format.h>

#include <ctime>

namespace labsync::apps {

std::optional<std::chrono::system_clock::time_point> parse_since(std::string_view text,
                                                                 std::chrono::system_clock::time_point now,
                                                                 std::string& why) {
    const std::string s(text);
    for (const char* format : {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S",
                               "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
        std::tm tm{};
        const char* end = ::strptime(s.c_str(), format, &tm);
        if (end && *end == '\0') return std::chrono::system_clock::from_time_t(::timegm(&tm));
    }
    if (!s.empty() && s.find('-') == std::string::npos) {
        std::string duration_why;
        if (auto span = config::parse_duration(s, duration_why)) return now - *span;
    }
    why = fmt::format(
        "--since \"{}\": neither a span back from now (90m, 2h, 1d) nor a UTC date or time "
        "(2026-12-01, 2026-12-01T22:00:00Z)",
        s);
    return std::nullopt;
}

}  // namespace labsync::apps
