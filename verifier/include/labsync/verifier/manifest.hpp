#pragma once
// The manifest of a run: every regular file as (relative path, size, sha256), sorted by the
// path's bytes. Its canonical form is its sha256sum text (`<hex>  <path>\n`, paths escaped the
// way coreutils does), so a remote host can reproduce it with
// `find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum`.
// Stored as fixed-size records with every path in one arena (path_arena.hpp): ~48 bytes + the
// path's bytes per file, whatever the file count.

#include "labsync/verifier/path_arena.hpp"
#include "labsync/verifier/sha256.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::verifier {

// One entry as callers see it. From a manifest, `path` views the manifest's path arena: valid
// while that manifest lives and is not assigned to. To build a manifest, `path` may view any
// string that outlives the constructor call (the bytes are copied).
struct manifest_entry {
    std::string_view path;  // relative, '/'-separated, no leading "./"
    std::uint64_t size = 0;
    sha256_digest sha256{};

    friend bool operator==(const manifest_entry&, const manifest_entry&) = default;
};

// One entry as stored: fixed-size (48 bytes), the path in the manifest's arena.
struct manifest_record {
    path_ref path;
    std::uint64_t size = 0;
    sha256_digest sha256{};
};

class manifest {
public:
    // The entries in path byte order, as manifest_entry values viewing the manifest.
    class entry_list {
    public:
        using value_type = manifest_entry;
        using iterator = indexed_iterator<entry_list>;
        using const_iterator = iterator;

        std::size_t size() const noexcept { return records_.size(); }
        bool empty() const noexcept { return records_.empty(); }
        manifest_entry operator[](std::size_t i) const noexcept {
            const auto& r = records_[i];
            return {paths_.get(r.path), r.size, r.sha256};
        }
        manifest_entry front() const noexcept { return (*this)[0]; }
        manifest_entry back() const noexcept { return (*this)[size() - 1]; }
        iterator begin() const noexcept { return {this, 0}; }
        iterator end() const noexcept { return {this, size()}; }

    private:
        friend class manifest;
        path_arena paths_;
        std::vector<manifest_record> records_;
    };

    manifest() = default;
    explicit manifest(const std::vector<manifest_entry>& entries);  // copies the paths, sorts
    // Records whose paths lie in `paths` (other bytes of the arena are ignored); sorts.
    manifest(path_arena paths, std::vector<manifest_record> records);

    const entry_list& entries() const noexcept { return entries_; }
    std::uint64_t total_bytes() const noexcept;
    std::optional<manifest_entry> find(std::string_view path) const noexcept;

    // sha256sum-compatible text; this is the canonical form.
    std::string to_sha256sum() const;
    // {"files":[{"path","size","sha256"}...],"total_bytes","digest"}
    std::string to_json() const;
    // sha256 of to_sha256sum().
    sha256_digest digest() const;

    // Parses sha256sum text (sizes are unknown there and read back as 0). Strict: a malformed
    // line, a path leaving the run ("..", absolute) or a duplicate path gives errc::bad_manifest.
    // Accepts the ' *' binary marker and strips one leading "./".
    static manifest parse_sha256sum(std::string_view text, std::error_code& ec);
    static manifest parse_json(std::string_view text, std::error_code& ec);
    // Same, and on failure `why` (when not null) says which line/entry and what is wrong.
    static manifest parse_sha256sum(std::string_view text, std::error_code& ec, std::string* why);
    static manifest parse_json(std::string_view text, std::error_code& ec, std::string* why);

    // Same entries (paths, sizes, digests) in the same order.
    friend bool operator==(const manifest& a, const manifest& b) noexcept;

private:
    void sort();
    entry_list entries_;
};

// coreutils escaping: a name with '\\' or '\n' (or '\r') is escaped and its line starts with '\\'.
std::string escape_sha256sum_path(std::string_view path, bool& escaped);

// Appends one canonical line (`[\\]<hex>  <escaped path>\n`) to `out`: lets a caller stream a
// large manifest instead of holding to_sha256sum() whole.
void append_sha256sum_line(std::string& out, const manifest_entry& entry);

}  // namespace labsync::verifier
