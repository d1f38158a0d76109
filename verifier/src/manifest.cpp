#include "labsync/verifier/manifest.hpp"

#include "labsync/verifier/errc.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <set>

namespace labsync::verifier {
namespace {

void fail(std::error_code& ec, std::string* why, std::string text) {
    ec = make_error_code(errc::bad_manifest);
    if (why != nullptr) *why = std::move(text);
}

// Renders a path for an error message: printable ASCII as is, anything else as \xNN.
std::string printable(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : s.substr(0, 200)) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            out += "\\x";
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xf]);
        }
    }
    if (s.size() > 200) out += "...";
    return out;
}

bool valid_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = 0;
        std::uint32_t cp = 0;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= s.size()) return false;
        for (std::size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = cp << 6 | (cc & 0x3f);
        }
        static constexpr std::uint32_t min_for_len[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

std::string bytes_to_hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(s.size() * 2);
    for (unsigned char c : s) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0xf]);
    }
    return out;
}

std::optional<std::string> hex_to_bytes(std::string_view hex) {
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        unsigned v = 0;
        auto [p, e] = std::from_chars(hex.data() + i, hex.data() + i + 2, v, 16);
        if (e != std::errc{} || p != hex.data() + i + 2) return std::nullopt;
        out.push_back(static_cast<char>(v));
    }
    return out;
}

// A manifest path must stay inside the run: relative, no empty, "." or ".." components, no NUL.
// Remote hosts produce these texts, so a hostile or broken one must not smuggle "../x" through.
std::optional<std::string> path_problem(std::string_view path) {
    if (path.empty()) return "empty path";
    if (path.find('\0') != std::string_view::npos) return "path contains NUL";
    if (path.front() == '/') return "absolute path";
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        auto comp = path.substr(start, end - start);
        if (comp.empty()) return "empty path component";
        if (comp == "." || comp == "..") return "'.' or '..' path component";
        start = end + 1;
    }
    return std::nullopt;
}

bool check_unique(const manifest& m, std::error_code& ec, std::string* why) {
    const auto& entries = m.entries();
    auto dup = std::adjacent_find(entries.begin(), entries.end(),
                                  [](const auto& a, const auto& b) { return a.path == b.path; });
    if (dup != entries.end()) {
        fail(ec, why, "duplicate path '" + printable((*dup).path) + "'");
        return false;
    }
    return true;
}

}  // namespace

manifest::manifest(const std::vector<manifest_entry>& entries) {
    std::size_t bytes = 0;
    for (const auto& e : entries) bytes += e.path.size();
    entries_.paths_.reserve(bytes);
    entries_.records_.reserve(entries.size());
    for (const auto& e : entries)
        entries_.records_.push_back({entries_.paths_.add(e.path), e.size, e.sha256});
    sort();
}

manifest::manifest(path_arena paths, std::vector<manifest_record> records) {
    entries_.paths_ = std::move(paths);
    entries_.records_ = std::move(records);
    sort();
}

void manifest::sort() {
    // std::char_traits<char> compares as unsigned char, which is the order of `LC_ALL=C sort`.
    const auto& paths = entries_.paths_;
    auto less = [&paths](const manifest_record& a, const manifest_record& b) {
        return paths.get(a.path) < paths.get(b.path);
    };
    // The builders hand over records already in order: checking is one pass, sorting n log n.
    if (!std::is_sorted(entries_.records_.begin(), entries_.records_.end(), less))
        std::sort(entries_.records_.begin(), entries_.records_.end(), less);
}

bool operator==(const manifest& a, const manifest& b) noexcept {
    return std::equal(a.entries_.begin(), a.entries_.end(), b.entries_.begin(), b.entries_.end());
}

std::uint64_t manifest::total_bytes() const noexcept {
    std::uint64_t total = 0;
    for (const auto& r : entries_.records_) total += r.size;
    return total;
}

std::optional<manifest_entry> manifest::find(std::string_view path) const noexcept {
    const auto& paths = entries_.paths_;
    const auto& records = entries_.records_;
    auto it = std::lower_bound(
        records.begin(), records.end(), path,
        [&paths](const manifest_record& r, std::string_view p) { return paths.get(r.path) < p; });
    if (it == records.end() || paths.get(it->path) != path) return std::nullopt;
    return entries_[static_cast<std::size_t>(it - records.begin())];
}

std::string escape_sha256sum_path(std::string_view path, bool& escaped) {
    escaped = path.find_first_of("\\\n\r") != std::string_view::npos;
    if (!escaped) return std::string(path);
    std::string out;
    out.reserve(path.size() + 8);
    for (char c : path) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                out.push_back(c);
        }
    }
    return out;
}

void append_sha256sum_line(std::string& out, const manifest_entry& entry) {
    bool escaped = false;
    std::string path = escape_sha256sum_path(entry.path, escaped);
    if (escaped) out.push_back('\\');
    out += to_hex(entry.sha256);
    out += "  ";
    out += path;
    out.push_back('\n');
}

std::string manifest::to_sha256sum() const {
    std::string out;
    out.reserve(entries_.size() * 100);
    for (const auto& e : entries_) append_sha256sum_line(out, e);
    return out;
}

sha256_digest manifest::digest() const {
    // Streams the canonical text through the hash in 64 KiB pieces rather than building it:
    // at a million files the text alone would be ~100 MB.
    sha256 h;
    std::string chunk;
    chunk.reserve(1u << 16);
    for (const auto& e : entries_) {
        append_sha256sum_line(chunk, e);
        if (chunk.size() >= (1u << 16) - 4096) {
            h.update(chunk);
            chunk.clear();
        }
    }
    h.update(chunk);
    return h.finish();
}

std::string manifest::to_json() const {
    // Written by hand rather than through a json tree: a run may hold a million files.
    std::string out = "{\"files\":[";
    bool first = true;
    for (const auto& e : entries_) {
        if (!first) out.push_back(',');
        first = false;
        if (valid_utf8(e.path)) {
            out += "{\"path\":";
            out += nlohmann::json(e.path).dump();
        } else {
            // JSON strings are Unicode; a name that is not UTF-8 travels as its bytes in hex.
            out += "{\"path_hex\":\"" + bytes_to_hex(e.path) + "\"";
        }
        out += ",\"size\":" + std::to_string(e.size);
        out += ",\"sha256\":\"" + to_hex(e.sha256) + "\"}";
    }
    out += "],\"total_bytes\":" + std::to_string(total_bytes());
    out += ",\"digest\":\"" + to_hex(digest()) + "\"}";
    return out;
}

manifest manifest::parse_sha256sum(std::string_view text, std::error_code& ec) {
    return parse_sha256sum(text, ec, nullptr);
}

manifest manifest::parse_sha256sum(std::string_view text, std::error_code& ec, std::string* why) {
    ec.clear();
    path_arena paths;
    std::vector<manifest_record> records;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        ++line_no;
        std::size_t nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        auto bad = [&](std::string_view reason) {
            fail(ec, why,
                 "line " + std::to_string(line_no) + ": " + std::string(reason) + ": '" + printable(line) +
                     "'");
            return manifest{};
        };
        bool escaped = !line.empty() && line.front() == '\\';
        if (escaped) line.remove_prefix(1);
        if (line.size() < 64 + 2) return bad("too short for '<sha256>  <path>'");
        auto digest = digest_from_hex(line.substr(0, 64));
        if (!digest) return bad("not 64 hex digits");
        if (line[64] != ' ' || (line[65] != ' ' && line[65] != '*'))
            return bad("expected two spaces (or ' *') after the hash");
        std::string_view raw = line.substr(66);
        std::string path;
        if (escaped) {
            for (std::size_t i = 0; i < raw.size(); ++i) {
                if (raw[i] != '\\') {
                    path.push_back(raw[i]);
                    continue;
                }
                if (i + 1 == raw.size()) return bad("path ends in a lone backslash");
                char c = raw[++i];
                if (c == '\\')
                    path.push_back('\\');
                else if (c == 'n')
                    path.push_back('\n');
                else if (c == 'r')
                    path.push_back('\r');
                else
                    return bad("unknown escape in path");
            }
        } else {
            path.assign(raw);
        }
        // `sha256sum ./x` prints "./x"; the canonical form has no leading "./".
        if (path.starts_with("./")) path.erase(0, 2);
        if (auto problem = path_problem(path)) return bad(*problem);
        records.push_back({paths.add(path), 0, *digest});
    }
    manifest m(std::move(paths), std::move(records));
    if (!check_unique(m, ec, why)) return {};
    return m;
}

manifest manifest::parse_json(std::string_view text, std::error_code& ec) {
    return parse_json(text, ec, nullptr);
}

manifest manifest::parse_json(std::string_view text, std::error_code& ec, std::string* why) {
    ec.clear();
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        fail(ec, why, "not valid JSON");
        return {};
    }
    if (!doc.is_object() || !doc.contains("files") || !doc["files"].is_array()) {
        fail(ec, why, "expected an object with a \"files\" array");
        return {};
    }
    path_arena paths;
    std::vector<manifest_record> records;
    std::size_t index = 0;
    for (const auto& f : doc["files"]) {
        auto bad = [&](const std::string& reason) {
            fail(ec, why, "files[" + std::to_string(index) + "]: " + reason);
            return manifest{};
        };
        if (!f.is_object()) return bad("not an object");
        manifest_record e;
        std::string path;
        if (f.contains("path") && f["path"].is_string()) {
            path = f["path"].get<std::string>();
        } else if (f.contains("path_hex") && f["path_hex"].is_string()) {
            auto bytes = hex_to_bytes(f["path_hex"].get<std::string>());
            if (!bytes) return bad("\"path_hex\" is not hex");
            path = std::move(*bytes);
        } else {
            return bad("no string \"path\" or \"path_hex\"");
        }
        if (auto problem = path_problem(path)) return bad(*problem + " '" + printable(path) + "'");
        if (!f.contains("size") || !f["size"].is_number_unsigned())
            return bad("\"size\" is not an unsigned integer");
        e.size = f["size"].get<std::uint64_t>();
        if (!f.contains("sha256") || !f["sha256"].is_string()) return bad("no string \"sha256\"");
        auto digest = digest_from_hex(f["sha256"].get<std::string>());
        if (!digest) return bad("\"sha256\" is not 64 hex digits");
        e.sha256 = *digest;
        e.path = paths.add(path);
        records.push_back(e);
        ++index;
    }
    manifest m(std::move(paths), std::move(records));
    if (!check_unique(m, ec, why)) return {};
    // The redundant fields are checks: a truncated or edited document must not pass as valid.
    if (doc.contains("total_bytes")) {
        if (!doc["total_bytes"].is_number_unsigned() ||
            doc["total_bytes"].get<std::uint64_t>() != m.total_bytes()) {
            fail(ec, why, "\"total_bytes\" does not match the files");
            return {};
        }
    }
    if (doc.contains("digest")) {
        auto d = doc["digest"].is_string() ? digest_from_hex(doc["digest"].get<std::string>()) : std::nullopt;
        if (!d || *d != m.digest()) {
            fail(ec, why, "\"digest\" does not match the files");
            return {};
        }
    }
    return m;
}

}  // namespace labsync::verifier
