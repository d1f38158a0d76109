// Unit and component tests: the path arena and the fixed-size records on it (manifest, walk list).
#include "labsync/verifier/manifest.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "labsync/verifier/path_arena.hpp"
#include "labsync/verifier/run_walker.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

using namespace labsync::verifier;
namespace fs = std::filesystem;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

std::string numbered(std::size_t i) {
    return "d" + std::to_string(i / 1000) + "/f" + std::to_string(i) + ".dat";
}

sha256_digest digest_of(std::size_t i) {
    return sha256::of(std::to_string(i));
}

}  // namespace

TEST_CASE("path arena: every path reads back byte for byte after the buffer grew", "[arena]") {
    path_arena arena;
    std::vector<path_ref> refs;
    for (std::size_t i = 0; i < 100'000; ++i) refs.push_back(arena.add(numbered(i)));
    const std::string long_path = std::string(70'000, 'x') + "/" + std::string(70'000, 'y');
    const std::string odd("\xff\xfe/\x80 caf\xc3\xa9\n\r\\\x01", 16);  // not UTF-8, control bytes
    const auto long_ref = arena.add(long_path);
    const auto odd_ref = arena.add(odd);
    const auto joined = arena.add_joined("sub/dir", "name");
    const auto empty_prefix = arena.add_joined("", "top");
    for (std::size_t i = 0; i < refs.size(); ++i) REQUIRE(arena.get(refs[i]) == numbered(i));
    CHECK(arena.get(long_ref) == long_path);
    CHECK(arena.get(odd_ref) == odd);
    CHECK(arena.get(odd_ref).size() == 16);
    CHECK(arena.get(joined) == "sub/dir/name");
    CHECK(arena.get(empty_prefix) == "top");
    // A moved arena keeps its refs.
    path_arena moved = std::move(arena);
    CHECK(moved.get(long_ref) == long_path);
    CHECK(moved.get(refs[77'777]) == numbered(77'777));
}

TEST_CASE("path arena: a path beyond 16 MiB is refused, not truncated", "[arena]") {
    path_arena arena;
    CHECK_THROWS_AS(arena.add(std::string(path_arena::max_path + 1, 'a')), std::length_error);
    CHECK(arena.size_bytes() == 0);
    CHECK(arena.get(arena.add(std::string(path_arena::max_path, 'a'))).size() == path_arena::max_path);
}

TEST_CASE("manifest on an arena: byte order, lookups and text for many, long and non-UTF-8 paths",
          "[arena][manifest]") {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < 20'000; ++i) names.push_back(numbered(i));
    names.push_back(std::string(5'000, 'l') + "/" + std::string(200, 'm'));
    names.push_back("\xff\xfe-latin1");
    names.push_back("a-b");
    names.push_back("a/b");
    names.push_back("Z");
    std::vector<std::string> shuffled = names;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(16));
    std::vector<manifest_entry> entries;
    for (std::size_t i = 0; i < shuffled.size(); ++i) entries.push_back({shuffled[i], i, digest_of(i)});
    const manifest m(entries);

    // The order of `LC_ALL=C sort`: bytes as unsigned ("Z" < "a-b" < "a/b" < ... < "\xff").
    std::sort(names.begin(), names.end());
    REQUIRE(m.entries().size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) REQUIRE(m.entries()[i].path == names[i]);
    CHECK(m.entries().front().path == "Z");
    CHECK(m.entries().back().path == "\xff\xfe-latin1");
    CHECK(std::is_sorted(m.entries().begin(), m.entries().end(),
                         [](const auto& a, const auto& b) { return a.path < b.path; }));

    // Every entry keeps its own size and digest through the sort, and find() reaches it.
    for (std::size_t i = 0; i < shuffled.size(); ++i) {
        const auto e = m.find(shuffled[i]);
        REQUIRE(e.has_value());
        REQUIRE(e->size == i);
        REQUIRE(e->sha256 == digest_of(i));
    }
    CHECK_FALSE(m.find("d0/f0.da").has_value());
    CHECK_FALSE(m.find("zzz").has_value());

    // The canonical text round-trips through the parser, the JSON form too (path_hex for non-UTF-8).
    std::error_code ec;
    const auto parsed = manifest::parse_sha256sum(m.to_sha256sum(), ec);
    REQUIRE_FALSE(ec);
    CHECK(parsed.digest() == m.digest());
    CHECK(parsed.find("\xff\xfe-latin1")->sha256 == m.find("\xff\xfe-latin1")->sha256);
    const auto from_json = manifest::parse_json(m.to_json(), ec);
    REQUIRE_FALSE(ec);
    CHECK(from_json == m);
    CHECK_FALSE(from_json == parsed);  // the sha256sum text has no sizes
}

TEST_CASE("manifest on an arena: a copy and a moved-from source stay independent", "[arena][manifest]") {
    std::string name = "one";
    manifest a({{name, 1, digest_of(1)}, {"two", 2, digest_of(2)}});
    name = "xxx";  // the manifest copied the bytes: the caller's string may change
    manifest b = a;
    manifest c = std::move(a);
    CHECK(b.entries()[0].path == "one");
    CHECK(c.entries()[0].path == "one");
    CHECK(b == c);
    CHECK(c.total_bytes() == 3);
}

TEST_CASE("walk file list: records stay paired with their stat through the sort", "[arena][walker]") {
    run_file_list files;
    std::vector<std::string> names;
    for (std::size_t i = 0; i < 5'000; ++i) names.push_back(numbered(i * 7919 % 5'000));
    names.push_back(std::string("\x80\x81", 2));
    names.push_back(std::string(9'000, 'q'));
    for (const auto& n : names) {
        const auto key = std::hash<std::string>{}(n);
        files.push_back({n, key % 1000, static_cast<std::int64_t>(key % 7777),
                         0100600 | static_cast<std::uint32_t>(key % 8), static_cast<std::int64_t>(key % 99),
                         static_cast<std::int64_t>(key % 555), key, key / 3});
    }
    files.sort();
    std::sort(names.begin(), names.end());
    REQUIRE(files.size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
        const run_file f = files[i];
        const auto key = std::hash<std::string>{}(names[i]);
        REQUIRE(f.path == names[i]);
        REQUIRE(f.size == key % 1000);
        REQUIRE(f.mtime_ns == static_cast<std::int64_t>(key % 7777));
        REQUIRE(f.mode == (0100600 | static_cast<std::uint32_t>(key % 8)));
        REQUIRE(f.mtime_s == static_cast<std::int64_t>(key % 99));
        REQUIRE(f.ctime_ns == static_cast<std::int64_t>(key % 555));
        REQUIRE(f.inode == key);
        REQUIRE(f.device == key / 3);
        REQUIRE(files.paths().get(files.path_of(i)) == names[i]);
        REQUIRE(files.fingerprints()[i] == fingerprint_of(f));
    }
    // Handing the parts over leaves the list empty, and the parts intact.
    const auto refs_front = files.path_of(0);
    auto stats = files.take_fingerprints();
    CHECK(files.empty());
    auto arena = files.take_paths();
    CHECK(stats.size() == names.size());
    CHECK(arena.get(refs_front) == names[0]);
}

TEST_CASE("walk and manifest of a tree with long and non-UTF-8 names: byte order, same paths",
          "[arena][walker][manifest]") {
    temp_dir t;
    const fs::path run = t.path() / "run";
    std::string deep;  // 14 levels of 200-byte names: ~2,800 bytes, far beyond a heap string's inline size
    for (int level = 0; level < 14; ++level)
        deep += (level ? "/" : "") + std::string(200, static_cast<char>('a' + level));
    std::vector<std::string> expected = {deep + "/leaf.bin", "a-b", "a/b", "\xe9t\xe9.latin1", "Z"};
    for (const auto& p : expected) write_file(run / p, p);
    std::sort(expected.begin(), expected.end());

    const auto walk = walk_run(run);
    REQUIRE_FALSE(walk.error);
    REQUIRE(walk.files.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(walk.files[i].path == expected[i]);

    const auto built = build_manifest(run);
    REQUIRE(built.ok());
    REQUIRE(built.manifest.entries().size() == expected.size());
    REQUIRE(built.fingerprints.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto e = built.manifest.entries()[i];
        CHECK(e.path == expected[i]);
        CHECK(e.sha256 == sha256::of(expected[i]));
        CHECK(built.fingerprints[i] == walk.files.fingerprints()[i]);
    }
}
