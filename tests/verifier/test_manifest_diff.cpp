// Unit tests: structured manifest comparison.
#include "labsync/verifier/manifest_diff.hpp"

#include <catch2/catch.hpp>

#include <deque>

using namespace labsync::verifier;

namespace {
sha256_digest d(std::string_view s) {
    return sha256::of(s);
}
}  // namespace

TEST_CASE("identical manifests give an empty diff", "[diff]") {
    manifest a({{"x", 1, d("x")}, {"y/z", 2, d("z")}});
    auto diff = compare(a, a);
    CHECK(diff.empty());
    CHECK(diff.summary() == "identical");
}

TEST_CASE("diff reports missing, extra, size and hash differences once each", "[diff]") {
    manifest local({{"gone", 1, d("g")}, {"same", 2, d("s")}, {"sized", 3, d("a")}, {"hashed", 4, d("h")}});
    manifest remote({{"new", 1, d("n")}, {"same", 2, d("s")}, {"sized", 5, d("b")}, {"hashed", 4, d("H")}});
    auto diff = compare(local, remote);
    CHECK_FALSE(diff.empty());
    CHECK(diff.missing == std::vector<std::string>{"gone"});
    CHECK(diff.extra == std::vector<std::string>{"new"});
    REQUIRE(diff.size_differs.size() == 1);
    CHECK(diff.size_differs[0].path == "sized");
    CHECK(diff.size_differs[0].local_size == 3);
    CHECK(diff.size_differs[0].remote_size == 5);
    REQUIRE(diff.hash_differs.size() == 1);  // "sized" is not reported twice
    CHECK(diff.hash_differs[0].path == "hashed");
    CHECK(diff.hash_differs[0].local == d("h"));
    CHECK(diff.hash_differs[0].remote == d("H"));
    CHECK(diff.summary() ==
          "1 missing (gone), 1 extra (new), 1 size differs (sized), 1 hash differs (hashed)");
}

TEST_CASE("size 0 from a sha256sum manifest means unknown", "[diff]") {
    manifest local({{"a", 10, d("a")}, {"b", 10, d("b")}});
    manifest remote({{"a", 0, d("a")}, {"b", 0, d("B")}});
    auto diff = compare(local, remote);
    CHECK(diff.size_differs.empty());
    REQUIRE(diff.hash_differs.size() == 1);
    CHECK(diff.hash_differs[0].path == "b");
}

TEST_CASE("summary truncates long lists and keeps control characters on one line", "[diff]") {
    std::vector<manifest_entry> many;
    std::deque<std::string> names;  // what `many` views (a deque never moves its strings)
    for (int i = 0; i < 8; ++i) many.push_back({names.emplace_back("f" + std::to_string(i)), 1, d("x")});
    many.push_back({"new\nline", 1, d("x")});
    auto diff = compare(manifest(many), manifest());
    CHECK(diff.missing.size() == 9);
    CHECK(diff.summary(3) == "9 missing (f0, f1, f2, ...)");
    auto diff2 = compare(manifest(), manifest({{"new\nline", 1, d("x")}}));
    CHECK(diff2.summary() == "1 extra (new\\x0aline)");
}
