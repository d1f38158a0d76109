#pragma once
// syncd reads its configuration through the config module (config/, labsync::config): this header
// brings that module's names into labsync::apps, where the daemon's code uses them unqualified.

#include "labsync/config/config_loader.hpp"
#include "labsync/config/config_values.hpp"
#include "labsync/config/daemon_config.hpp"
#include "labsync/config/default_config.hpp"

namespace labsync::apps {

using config::config_error;
using config::daemon_config;
using config::daemon_settings;
using config::default_config_params;
using config::default_config_text;
using config::format_errors;
using config::load_config;
using config::load_result;
using config::log_format;
using config::log_format_from_string;
using config::parse_host_port;

}  // namespace labsync::apps
