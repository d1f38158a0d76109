#pragma once
// Whether two equipment watch the same directory, or one inside the other, however their
// runs_root is spelled: through a symlink, `..`, or a bind mount. Either would store every run
// twice under two names (or one instrument's runs as another's), so the config loader refuses it.
//
// resolve_dir_chain does the I/O (realpath of the part that exists, stat for device + inode);
// dir_overlap_of is the pure decision over its results.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <utility>
#include <vector>

namespace labsync::config {

struct dir_node {
    std::filesystem::path path;  // canonical: symlinks resolved as far as the path exists
    std::optional<std::pair<std::uint64_t, std::uint64_t>> dev_ino;  // when it exists
};

// [0] is the directory itself, then each ancestor up to "/".
using dir_chain = std::vector<dir_node>;

dir_chain resolve_dir_chain(const std::filesystem::path& dir);

enum class dir_overlap { none, same, inside };

// Is `inner` the directory `outer` names (same), or below it (inside)? Two nodes are one
// directory when their canonical paths are equal or, both existing, device and inode are.
dir_overlap dir_overlap_of(const dir_chain& inner, const dir_chain& outer) noexcept;

}  // namespace labsync::config
