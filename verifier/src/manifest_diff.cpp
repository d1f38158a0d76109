#include "labsync/verifier/manifest_diff.hpp"

namespace labsync::verifier {
namespace {

// Paths in log lines: control characters and backslashes escaped so one diff stays one line.
std::string printable(const std::string& path) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : path) {
        if (c < 0x20 || c == 0x7f || c == '\\') {
            out += "\\x";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xf]);
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

template <class Items, class PathOf>
void describe(std::string& out, std::size_t max_paths, const char* what, const Items& items, PathOf path_of) {
    if (items.empty()) return;
    if (!out.empty()) out += ", ";
    out += std::to_string(items.size()) + " " + what + " (";
    std::size_t shown = 0;
    for (const auto& item : items) {
        if (shown == max_paths) {
            out += ", ...";
            break;
        }
        if (shown++ > 0) out += ", ";
        out += printable(path_of(item));
    }
    out += ")";
}

}  // namespace

manifest_diff compare(const manifest& local, const manifest& remote) {
    manifest_diff diff;
    const auto& l = local.entries();
    const auto& r = remote.entries();
    std::size_t i = 0, j = 0;
    // Both sides are sorted by path bytes: one merge pass.
    while (i < l.size() || j < r.size()) {
        if (j == r.size() || (i < l.size() && l[i].path < r[j].path)) {
            diff.missing.emplace_back(l[i++].path);
        } else if (i == l.size() || r[j].path < l[i].path) {
            diff.extra.emplace_back(r[j++].path);
        } else {
            const auto a = l[i++];
            const auto b = r[j++];
            if (a.size != 0 && b.size != 0 && a.size != b.size)
                diff.size_differs.push_back({std::string(a.path), a.size, b.size});
            else if (a.sha256 != b.sha256)
                diff.hash_differs.push_back({std::string(a.path), a.sha256, b.sha256});
        }
    }
    return diff;
}

std::string manifest_diff::summary(std::size_t max_paths) const {
    std::string out;
    describe(out, max_paths, "missing", missing, [](const std::string& p) { return p; });
    describe(out, max_paths, "extra", extra, [](const std::string& p) { return p; });
    describe(out, max_paths, "size differs", size_differs, [](const size_difference& d) { return d.path; });
    describe(out, max_paths, "hash differs", hash_differs, [](const hash_difference& d) { return d.path; });
    return out.empty() ? "identical" : out;
}

bool same_files(const manifest& a, const manifest& b) {
    const auto& x = a.entries();
    const auto& y = b.entries();
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const auto ex = x[i];
        const auto ey = y[i];
        if (ex.path != ey.path || ex.sha256 != ey.sha256) return false;
        // sha256sum text carries no sizes (0); compare them only when both sides have them.
        if (ex.size != 0 && ey.size != 0 && ex.size != ey.size) return false;
    }
    return true;
}

}  // namespace labsync::verifier
