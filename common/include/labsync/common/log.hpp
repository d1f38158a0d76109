#pragma once
// The engine's injected logger: modules never write to stdout; the embedder decides where lines go.

#include <functional>
#include <string_view>

namespace labsync::engine {

enum class log_level { debug, info, warning, error };

std::string_view to_string(log_level level) noexcept;

// Called on whatever thread produced the line (usually the engine's I/O thread). Empty = silent.
using log_fn = std::function<void(log_level, std::string_view)>;

}  // namespace labsync::engine
