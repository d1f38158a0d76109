// Unit tests: canonical sha256sum form, coreutils escaping, JSON, strict parsers.
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest.hpp"

#include <catch2/catch.hpp>

using namespace labsync::verifier;

namespace {

sha256_digest digest_of(std::string_view s) {
    return sha256::of(s);
}

manifest sample() {
    return manifest({{"b/x", 3, digest_of("b/x")},
                     {"a-b", 1, digest_of("a-b")},
                     {"a/b", 2, digest_of("a/b")},
                     {"\xc3\xbc.txt", 4, digest_of("u")}});
}

std::string parse_error(std::string_view text) {
    std::error_code ec;
    std::string why;
    auto m = manifest::parse_sha256sum(text, ec, &why);
    CHECK(ec == errc::bad_manifest);
    CHECK(m.entries().empty());
    return why;
}

std::string json_error(std::string_view text) {
    std::error_code ec;
    std::string why;
    (void)manifest::parse_json(text, ec, &why);
    CHECK(ec == errc::bad_manifest);
    return why;
}

}  // namespace

TEST_CASE("manifest sorts by path bytes like LC_ALL=C sort", "[manifest]") {
    auto m = sample();
    REQUIRE(m.entries().size() == 4);
    // '-' (0x2d) < '/' (0x2f) < 'b' < 0xc3: a depth-first order would put "a/b" first.
    CHECK(m.entries()[0].path == "a-b");
    CHECK(m.entries()[1].path == "a/b");
    CHECK(m.entries()[2].path == "b/x");
    CHECK(m.entries()[3].path == "\xc3\xbc.txt");
    CHECK(m.total_bytes() == 10);
    REQUIRE(m.find("a/b").has_value());
    CHECK(m.find("a/b")->size == 2);
    CHECK_FALSE(m.find("a").has_value());
}

TEST_CASE("canonical form is sha256sum text and the digest is its sha256", "[manifest]") {
    auto m = sample();
    std::string text = m.to_sha256sum();
    std::string expected = to_hex(digest_of("a-b")) + "  a-b\n" + to_hex(digest_of("a/b")) + "  a/b\n" +
                           to_hex(digest_of("b/x")) + "  b/x\n" + to_hex(digest_of("u")) + "  \xc3\xbc.txt\n";
    CHECK(text == expected);
    CHECK(m.digest() == sha256::of(text));
    CHECK(manifest().to_sha256sum().empty());
}

TEST_CASE("paths with backslash, newline or CR are escaped the coreutils way", "[manifest]") {
    bool escaped = true;
    CHECK(escape_sha256sum_path("plain name", escaped) == "plain name");
    CHECK_FALSE(escaped);
    CHECK(escape_sha256sum_path("a\\b", escaped) == "a\\\\b");
    CHECK(escaped);
    CHECK(escape_sha256sum_path("n\nl\rc", escaped) == "n\\nl\\rc");
    CHECK(escaped);

    manifest m({{"x\\y", 0, digest_of("")}});
    CHECK(m.to_sha256sum() == "\\" + to_hex(digest_of("")) + "  x\\\\y\n");
}

TEST_CASE("sha256sum text round-trips, escapes included", "[manifest]") {
    manifest m({{"a\\b", 0, digest_of("1")},
                {"new\nline", 0, digest_of("2")},
                {"cr\r", 0, digest_of("3")},
                {"sp ace/\xe2\x82\xac", 0, digest_of("4")},
                {"plain", 0, digest_of("5")}});
    std::error_code ec;
    std::string why;
    auto back = manifest::parse_sha256sum(m.to_sha256sum(), ec, &why);
    REQUIRE_FALSE(ec);
    CHECK(back == m);
}

TEST_CASE("parser accepts the binary marker, './' and a missing final newline", "[manifest]") {
    std::string h = to_hex(digest_of("x"));
    std::error_code ec;
    auto m = manifest::parse_sha256sum(h + " *bin\n" + h + "  ./dot/file", ec);
    REQUIRE_FALSE(ec);
    REQUIRE(m.entries().size() == 2);
    CHECK(m.entries()[0].path == "bin");
    CHECK(m.entries()[1].path == "dot/file");
    CHECK(m.entries()[1].size == 0);  // sizes are unknown in sha256sum text
    auto upper = manifest::parse_sha256sum("ABCDEF" + h.substr(6) + "  f\n", ec);
    CHECK_FALSE(ec);
    CHECK(manifest::parse_sha256sum("", ec).entries().empty());
    CHECK_FALSE(ec);
}

TEST_CASE("parser rejects malformed lines and says which", "[manifest]") {
    std::string h = to_hex(digest_of("x"));
    CHECK_THAT(parse_error("abc  x\n"), Catch::Contains("line 1") && Catch::Contains("too short"));
    CHECK_THAT(parse_error(h + "  ok\n" + std::string(64, 'g') + "  f\n"),
               Catch::Contains("line 2") && Catch::Contains("hex"));
    CHECK_THAT(parse_error(h + " f\n"), Catch::Contains("two spaces"));
    CHECK_THAT(parse_error(h + "\tf\n"), Catch::Contains("two spaces"));
    CHECK_THAT(parse_error(h + "  \n"), Catch::Contains("empty path"));
    CHECK_THAT(parse_error(h + "  ok\n\n" + h + "  b\n"), Catch::Contains("line 2"));
    CHECK_THAT(parse_error("\\" + h + "  a\\tb\n"), Catch::Contains("unknown escape"));
    CHECK_THAT(parse_error("\\" + h + "  a\\\n"), Catch::Contains("lone backslash"));
    CHECK_THAT(parse_error(h + "  ../escape\n"), Catch::Contains("'..'"));
    CHECK_THAT(parse_error(h + "  /etc/passwd\n"), Catch::Contains("absolute"));
    CHECK_THAT(parse_error(h + "  a//b\n"), Catch::Contains("empty path component"));
    CHECK_THAT(parse_error(h + "  a\n" + h + "  a\n"), Catch::Contains("duplicate"));
    CHECK_THAT(parse_error(h + "x  a\n"), Catch::Contains("two spaces"));
}

TEST_CASE("JSON form carries files, total and digest and parses back", "[manifest]") {
    auto m =
        manifest({{"a", 5, digest_of("a")}, {"bad\xff", 7, digest_of("b")}, {"q\"\\", 1, digest_of("q")}});
    std::string json = m.to_json();
    CHECK_THAT(json, Catch::StartsWith("{\"files\":[{\"path\":\"a\",\"size\":5,\"sha256\":\""));
    CHECK_THAT(json, Catch::Contains("\"path_hex\":\"626164ff\""));  // not UTF-8: bytes in hex
    CHECK_THAT(json, Catch::Contains("\"total_bytes\":13"));
    CHECK_THAT(json, Catch::Contains("\"digest\":\"" + to_hex(m.digest()) + "\""));
    std::error_code ec;
    std::string why;
    auto back = manifest::parse_json(json, ec, &why);
    INFO(why);
    REQUIRE_FALSE(ec);
    CHECK(back == m);
}

TEST_CASE("JSON parser rejects malformed documents", "[manifest]") {
    std::string h = to_hex(digest_of("x"));
    CHECK_THAT(json_error("{"), Catch::Contains("not valid JSON"));
    CHECK_THAT(json_error("[]"), Catch::Contains("\"files\""));
    CHECK_THAT(json_error(R"({"files":[{"size":1,"sha256":")" + h + "\"}]}"), Catch::Contains("files[0]"));
    CHECK_THAT(json_error(R"({"files":[{"path":"a","size":-1,"sha256":")" + h + "\"}]}"),
               Catch::Contains("size"));
    CHECK_THAT(json_error(R"({"files":[{"path":"a","size":1,"sha256":"zz"}]})"), Catch::Contains("sha256"));
    CHECK_THAT(json_error(R"({"files":[{"path":"../a","size":1,"sha256":")" + h + "\"}]}"),
               Catch::Contains("'..'"));
    CHECK_THAT(json_error(R"({"files":[{"path":"a","size":1,"sha256":")" + h + R"("}],"total_bytes":2})"),
               Catch::Contains("total_bytes"));
    CHECK_THAT(
        json_error(R"({"files":[{"path":"a","size":1,"sha256":")" + h + R"("}],"digest":")" + h + "\"}"),
        Catch::Contains("digest"));
}
