#pragma once
// labsync::config::load_config: reads syncd.toml (toml++) into a daemon_config — the engine's
// engine_config plus the daemon's own settings. syncd uses it; an embedder may call it too and
// hand `config.engine` to its engine. Every problem is reported with file, line, key
// and why; unknown keys are errors (a typo must not silently fall back to a default). All problems
// of a file are collected, not just the first. Relative paths are taken relative to the file's
// directory. See docs/configuration.md for the keys.

#include "labsync/config/daemon_config.hpp"

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::config {

struct load_result {
    daemon_config config;
    std::vector<config_error> errors;    // empty = config is usable
    std::vector<config_error> warnings;  // usable, but worth fixing (e.g. a token file others can read)
    bool ok() const noexcept { return errors.empty(); }
};

// Parses `text` as if read from `source_name`; `base_dir` resolves relative paths.
load_result load_config_text(std::string_view text, const std::string& source_name,
                             const std::filesystem::path& base_dir);

// Reads and parses the file; relative paths in it are taken relative to its directory.
load_result load_config(const std::filesystem::path& path);

// All errors, one per line.
std::string format_errors(const std::vector<config_error>& errors);

}  // namespace labsync::config

namespace labsync {
using config::load_config;  // labsync::load_config(path), the entry point embedders call
}  // namespace labsync
