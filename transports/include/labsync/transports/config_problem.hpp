#pragma once
// What a driver config's validate() finds wrong: the setting, named as its key in syncd.toml
// ([equipment.NAME.transport]), and why. The TOML loader places each problem at that key's
// file:line:col; a driver's create() refuses a config with any problem.

#include <string>
#include <vector>

namespace labsync::transports {

struct config_problem {
    std::string key;      // e.g. "client_cert"
    std::string message;  // e.g. "client_cert and client_key go together (set both or neither)"
};

// "key: message; key: message" (empty for no problems).
std::string describe(const std::vector<config_problem>& problems);

}  // namespace labsync::transports
