#pragma once
// Per-connection limits of the daemon's side servers (admin socket, /metrics; daemon/side_io.hpp).

#include <chrono>
#include <cstddef>

namespace labsync::apps {

struct side_limits {
    std::chrono::milliseconds read_timeout{5'000};    // the whole request, counted from accept
    std::chrono::milliseconds write_timeout{30'000};  // the whole response
    std::size_t max_request = 1 << 20;                // bytes of the request (line or HTTP head)
    std::size_t max_connections = 64;                 // open at once; more are closed at once
};

}  // namespace labsync::apps
