#pragma once
// The manifest of a run: every regular file as (relative path, size, sha256), sorted by the
// path's bytes. Its canonical form is its sha256sum text (`<hex>  <path>\n`, paths escaped the
// way coreutils does), so a remote host can reproduce it with
// `find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum`.

#include "labsync/verifier/sha256.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace labsync::verifier {

struct manifest_entry {
    std::string path;  // relative, '/'-separated, no leading "./"
    std::uint64_t size = 0;
    sha256_digest sha256{};

    friend bool operator==(const manifest_entry&, const manifest_entry&) = default;
};

class manifest {
public:
    manifest() = default;
    explicit manifest(std::vector<manifest_entry> entries);  // sorts

    const std::vector<manifest_entry>& entries() const noexcept { return entries_; }
    std::uint64_t total_bytes() const noexcept;
    const manifest_entry* find(std::string_view path) const noexcept;

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

    friend bool operator==(const manifest&, const manifest&) = default;

private:
    std::vector<manifest_entry> entries_;
};

// coreutils escaping: a name with '\\' or '\n' (or '\r') is escaped and its line starts with '\\'.
std::string escape_sha256sum_path(std::string_view path, bool& escaped);

// Appends one canonical line (`[\\]<hex>  <escaped path>\n`) to `out`: lets a caller stream a
// large manifest instead of holding to_sha256sum() whole.
void append_sha256sum_line(std::string& out, const manifest_entry& entry);

}  // namespace labsync::verifier
