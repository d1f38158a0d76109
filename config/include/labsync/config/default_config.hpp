#pragma once
// The embedded default configuration: a one-equipment setup shipping to a local syncd-receiver
// over TLS with a bearer token. `syncd config default` prints it with the placeholders filled;
// `make demo` runs the daemon with it.

#include <string>

namespace labsync::config {

struct default_config_params {
    std::string base_dir = ".";                           // state/, runs/, pki/ live below it
    std::string receiver_url = "https://127.0.0.1:8443";  // syncd-receiver base URL
    std::string admin_socket{};                           // empty = <base_dir>/syncd.sock
};

// TOML text; every path is absolute when base_dir is.
std::string default_config_text(const default_config_params& params);

}  // namespace labsync::config
