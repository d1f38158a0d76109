#pragma once
// Helpers shared by the archive tests: deterministic pseudo-random bytes, a hand-built archive
// (for inputs the archiver never writes), and the sha256sum manifest of a directory.

#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/tar_header.hpp"

#include <zstd.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace labsync::test {

// xorshift64*: incompressible enough that zstd cannot shrink it.
inline std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::string out(n, '\0');
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (std::size_t i = 0; i < n; ++i) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out[i] = static_cast<char>((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
    return out;
}

inline std::string zstd_compress(const std::string& data) {
    std::string out(ZSTD_compressBound(data.size()), '\0');
    std::size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
    if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress failed");
    out.resize(n);
    return out;
}

struct raw_member {
    std::string path;
    std::string content;
};

// A tar stream (uncompressed) of regular files, then `manifest_text` as the manifest member when
// given, then the end marker.
inline std::string make_tar(const std::vector<raw_member>& members,
                            const std::optional<std::string>& manifest_text) {
    using namespace labsync::verifier;
    std::string tar;
    auto add = [&](const std::string& path, const std::string& content) {
        append_tar_header(tar, {path, tar_entry_type::regular, content.size(), 1'700'000'000, 0644});
        tar += content;
        tar.append(tar_padding(content.size()), '\0');
    };
    for (const auto& m : members) add(m.path, m.content);
    if (manifest_text) add(".labsync/manifest.sha256", *manifest_text);
    tar.append(2 * tar_block_size, '\0');
    return tar;
}

// The sha256sum text for `members`, as the archiver would embed it.
inline std::string manifest_text_of(const std::vector<raw_member>& members) {
    using namespace labsync::verifier;
    std::vector<manifest_entry> entries;
    for (const auto& m : members) entries.push_back({m.path, m.content.size(), sha256::of(m.content)});
    return manifest(std::move(entries)).to_sha256sum();
}

}  // namespace labsync::test
