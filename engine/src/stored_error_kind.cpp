// See stored_error_kind.hpp.
#include "labsync/engine/stored_error_kind.hpp"

namespace labsync::engine {

queue::error_info stored_error(transports::error_kind kind, std::string text) {
    return queue::error_info{std::string(transports::to_string(kind)), std::move(text)};
}

std::optional<transports::error_kind> stored_error_kind(const queue::job& job) {
    if (!job.last_error_kind) return std::nullopt;
    return transports::error_kind_from_string(*job.last_error_kind);
}

}  // namespace labsync::engine
