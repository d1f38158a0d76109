#pragma once

#include "labsync/transports/error_kind.hpp"

#include <string>

namespace labsync::transports {

// What one transport operation reports (SPEC §6). For HTTP, `returncode` is the status code and
// `stdout_text` the response body; for subprocess drivers they are the exit code and the tails of
// the captured streams.
struct transport_result {
    bool ok = false;
    error_kind kind = error_kind::unknown;
    std::string stdout_text;
    std::string stderr_text;
    int returncode = 0;
    std::string message;  // one human line: what failed, where, why

    static transport_result success(int code = 0) { return {true, error_kind::none, {}, {}, code, {}}; }
    static transport_result failure(error_kind k, std::string msg, int code = 0) {
        return {false, k, {}, {}, code, std::move(msg)};
    }
};

// JSON form used by `syncd put --json` and the admin socket.
std::string to_json(const transport_result& result);

}  // namespace labsync::transports
