// The one rule for a relative path that must stay beneath a directory (run files, tar members).
#pragma once

#include <string_view>

namespace labsync::verifier::detail {

// True when `path` is relative and every component is a real name: no leading '/', no empty,
// "." or ".." component (so it can neither climb out nor alias another path).
inline bool stays_beneath(std::string_view path) {
    if (path.empty() || path.front() == '/') return false;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        auto comp = path.substr(start, end - start);
        if (comp.empty() || comp == "." || comp == "..") return false;
        start = end + 1;
    }
    return true;
}

}  // namespace labsync::verifier::detail
