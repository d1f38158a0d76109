// The shape lines shared by tree_digest() and fingerprint_digest(): one line per entry,
// `[\\]<kind> <path>\n`, the path escaped the way the manifest's sha256sum text escapes it (a
// leading '\\' marks an escaped line), so no two trees share a text.
#pragma once

#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/run_walker.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace labsync::verifier::detail {

inline void hash_tree_line(sha256& h, std::string_view kind, std::string_view path) {
    bool escaped = false;
    const auto p = escape_sha256sum_path(path, escaped);
    h.update(std::string(escaped ? "\\" : "") + std::string(kind) + " " + p + "\n");
}

// `directory <path>` per directory, then `<finding kind> <path>` per finding (both sorted by
// path); with_targets adds `target <link target>` after each symlink's line.
inline void hash_tree_shape(sha256& h, const std::vector<std::string>& directories,
                            const std::vector<walk_finding>& findings, bool with_targets) {
    for (const auto& d : directories) hash_tree_line(h, "directory", d);
    for (const auto& f : findings) {
        hash_tree_line(h, to_string(f.kind), f.path);
        if (with_targets && f.kind == finding_kind::symlink) hash_tree_line(h, "target", f.target);
    }
}

}  // namespace labsync::verifier::detail
