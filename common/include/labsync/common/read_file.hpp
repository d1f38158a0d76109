#pragma once
// Reads a whole (small) file an operator supplies (a config, a tokens file, an allow-list) and,
// when that fails, says why in the operating system's words ("Permission denied", "No such file
// or directory"): a service user that cannot read its config must learn which file and why.

#include <filesystem>
#include <optional>
#include <string>

namespace labsync::common {

// The file's bytes, or nullopt with `why` set to the reason (strerror: "Permission denied").
std::optional<std::string> read_whole_file(const std::filesystem::path& path, std::string& why);

}  // namespace labsync::common
