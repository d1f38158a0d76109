#pragma once
// One question to a syncd-receiver, for `syncd doctor`: may the credentials of an http_put config
// (token_file, client certificate) write equipment E? Asked as `POST /v1/ping?equipment=E`
// (docs/protocol.md) through http_put's own client, so the TLS setup and the failure
// classification are the ones the daemon uses. Blocking: runs its own event loop.

#include "labsync/transports/http_put_config.hpp"
#include "labsync/transports/http_status.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace labsync::transports {

struct access_answer {
    bool setup_failed = false;  // url, CA file, client certificate or token file unusable: see detail
    bool answered = false;      // a complete HTTP response came back: status and body are set
    int status = 0;
    std::string body;                     // one line (body_excerpt)
    std::optional<http_failure> failure;  // below HTTP, when neither of the above
    std::string detail;                   // why, for setup_failed and failure
};

// `timeout` bounds the connect (with the TLS handshake) and the wait for the answer each.
access_answer ask_receiver_access(const http_put_config& config, std::string_view equipment,
                                  std::chrono::milliseconds timeout);

}  // namespace labsync::transports
