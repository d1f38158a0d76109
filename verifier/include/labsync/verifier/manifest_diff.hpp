#pragma once
// Structured comparison of a local manifest (what the run holds) with a remote one (what a
// transport's probe reported). Pure logic, no I/O.

#include "labsync/verifier/manifest.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace labsync::verifier {

struct size_difference {
    std::string path;
    std::uint64_t local_size = 0;
    std::uint64_t remote_size = 0;
};

struct hash_difference {
    std::string path;
    sha256_digest local{};
    sha256_digest remote{};
};

// Each path appears in at most one list: a known size difference is reported as such and not
// again as a hash difference. All lists are sorted by path bytes.
struct manifest_diff {
    std::vector<std::string> missing;  // in local, absent remotely
    std::vector<std::string> extra;    // present remotely, not in local
    std::vector<size_difference> size_differs;
    std::vector<hash_difference> hash_differs;

    bool empty() const noexcept {
        return missing.empty() && extra.empty() && size_differs.empty() && hash_differs.empty();
    }
    // One line for logs and job errors, e.g.
    // "2 missing (a, b), 1 hash differs (c)"; "identical" when empty. Lists at most
    // `max_paths` paths per category.
    std::string summary(std::size_t max_paths = 5) const;
};

// A size of 0 on either side means "unknown" (a parsed sha256sum text carries no sizes), so no
// size difference is reported then; the hashes still decide.
manifest_diff compare(const manifest& local, const manifest& remote);

// Same files: paths and sha256s equal; sizes only where both sides know them (the same rule as
// compare(), without building the difference lists).
bool same_files(const manifest& a, const manifest& b);

}  // namespace labsync::verifier
