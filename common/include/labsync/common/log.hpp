#pragma once
// The injected logger every module takes (STYLE habit 11): modules never write to stdout or
// stderr; the embedder decides where lines go (syncd: apps/syncd/logging.hpp, spdlog-backed).

#include <functional>
#include <string_view>

namespace labsync::common {

enum class log_level { debug, info, warning, error };

// "debug", "info", "warning", "error".
std::string_view to_string(log_level level) noexcept;

// Called on whatever thread produced the line (usually the producer's I/O thread). Empty = silent.
using log_fn = std::function<void(log_level, std::string_view)>;

}  // namespace labsync::common
