// See runs_roots.hpp.
#include "runs_roots.hpp"

#include <sys/stat.h>

namespace labsync::config {
namespace {

namespace fs = std::filesystem;

dir_node resolve(const fs::path& path) {
    dir_node n;
    std::error_code ec;
    n.path = fs::weakly_canonical(path, ec);
    if (ec) n.path = path.lexically_normal();
    if (!n.path.has_filename() && n.path.has_relative_path()) n.path = n.path.parent_path();  // "a/b/"
    struct stat st {};
    if (::stat(n.path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        n.dev_ino = std::pair<std::uint64_t, std::uint64_t>{st.st_dev, st.st_ino};
    return n;
}

bool same_directory(const dir_node& a, const dir_node& b) noexcept {
    return a.path == b.path || (a.dev_ino && b.dev_ino && *a.dev_ino == *b.dev_ino);
}

}  // namespace

dir_chain resolve_dir_chain(const fs::path& dir) {
    dir_chain chain{resolve(dir)};
    // The ancestors of the canonical path: each one resolves to itself, stat gives its identity.
    for (fs::path p = chain.front().path; p.has_relative_path();) {
        p = p.parent_path();
        chain.push_back(resolve(p));
    }
    return chain;
}

dir_overlap dir_overlap_of(const dir_chain& inner, const dir_chain& outer) noexcept {
    if (inner.empty() || outer.empty()) return dir_overlap::none;
    if (same_directory(inner.front(), outer.front())) return dir_overlap::same;
    for (std::size_t i = 1; i < inner.size(); ++i)
        if (same_directory(inner[i], outer.front())) return dir_overlap::inside;
    return dir_overlap::none;
}

}  // namespace labsync::config
