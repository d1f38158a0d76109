// See log.hpp.
#include "labsync/common/log.hpp"

namespace labsync::common {

std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warning:
            return "warning";
        case log_level::error:
            return "error";
    }
    return "unknown";
}

}  // namespace labsync::common
