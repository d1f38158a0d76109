#pragma once
// How long blocking verifier work (hashing a run, packing it, checking an archive) reports that it
// is moving: bytes done so far and the total expected (0 = unknown). Called on the worker threads
// that do the work, after every read (about every MiB), so it must be cheap and thread-safe; the
// engine throttles it and hands it to the daemon's watchdog and `syncd status`.

#include <cstdint>
#include <functional>

namespace labsync::verifier {

using byte_progress_fn = std::function<void(std::uint64_t done, std::uint64_t total)>;

}  // namespace labsync::verifier
