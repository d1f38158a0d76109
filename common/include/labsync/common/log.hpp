#pragma once
// The injected logger every module takes (STYLE habit 11): modules never write to stdout or
// stderr; the embedder decides where lines go (syncd: apps/syncd/logging.hpp, spdlog-backed).

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::common {

enum class log_level { debug, info, warning, error };

// "debug", "info", "warning", "error".
std::string_view to_string(log_level level) noexcept;

// Called on whatever thread produced the line (usually the producer's I/O thread). Empty = silent.
using log_fn = std::function<void(log_level, std::string_view)>;

// What one line is about, for log shippers to filter on (syncd's JSON log carries these as keys,
// journald as EQUIPMENT=, RUN=, JOB=, STATE=, BYTES=, KIND=). Every field is optional.
struct log_fields {
    std::string equipment;
    std::string run;
    std::optional<std::int64_t> job;
    std::string state;  // queue::job_state name
    std::optional<std::uint64_t> bytes;
    std::string kind;  // error kind (TransportResult error_kind, "validation", "cancelled", ...)

    bool empty() const noexcept {
        return equipment.empty() && run.empty() && !job && state.empty() && !bytes && kind.empty();
    }
};

// A log_fn with fields, for lines that are about one job or run. Empty = silent.
using log_record_fn = std::function<void(log_level, std::string_view, const log_fields&)>;

}  // namespace labsync::common
