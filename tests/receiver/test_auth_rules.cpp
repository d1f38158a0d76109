// Unit tests of the tokens file, the access decision and the commit allow-list parser.
#include "labsync/receiver/commit_allowlist.hpp"
#include "labsync/receiver/token_file.hpp"

#include <catch2/catch.hpp>

using namespace labsync::receiver;

namespace {

token_file parse_ok(std::string_view text) {
    std::string error;
    auto t = token_file::parse(text, "tokens", error);
    INFO(error);
    REQUIRE(t);
    return *t;
}

std::string parse_error(std::string_view text) {
    std::string error;
    auto t = token_file::parse(text, "tokens", error);
    CHECK_FALSE(t);
    return error;
}

}  // namespace

TEST_CASE("tokens file: grants by pattern, comments, names", "[receiver][unit]") {
    auto t = parse_ok(
        "# lab tokens\n\n"
        "tok-eq1-0123456789abcdef eq1            # one instrument\n"
        "  tok-lab-0123456789abcdef\tlab-*  lab-robot\n"
        "tok-all-0123456789abcdef *\r\n");
    CHECK(t.size() == 3);
    auto d = t.check("Bearer tok-eq1-0123456789abcdef", "eq1");
    CHECK(d.outcome == auth_outcome::granted);
    CHECK(d.principal == "token@3");
    CHECK(t.check("bearer tok-eq1-0123456789abcdef", "eq1").outcome == auth_outcome::granted);
    CHECK(t.check("Bearer tok-eq1-0123456789abcdef", "eq2").outcome == auth_outcome::forbidden);
    CHECK(t.check("Bearer tok-lab-0123456789abcdef", "lab-7").principal == "lab-robot");
    CHECK(t.check("Bearer tok-lab-0123456789abcdef", "lab").outcome == auth_outcome::forbidden);
    CHECK(t.check("Bearer tok-all-0123456789abcdef", "anything").outcome == auth_outcome::granted);
    CHECK(t.check(std::nullopt, "eq1").outcome == auth_outcome::missing);
    CHECK(t.check("Basic abc", "eq1").outcome == auth_outcome::malformed);
    CHECK(t.check("Bearer", "eq1").outcome == auth_outcome::malformed);
    CHECK(t.check("Bearer tok-eq1-0123456789abcdeX", "eq1").outcome == auth_outcome::unknown);
    CHECK(t.check("Bearer tok-eq1-0123456789abcde", "eq1").outcome == auth_outcome::unknown);
    CHECK(t.check("Bearer # eq1", "eq1").outcome == auth_outcome::unknown);
}

TEST_CASE("tokens file: errors name the line", "[receiver][unit]") {
    CHECK(parse_error("") == "tokens: no tokens (every line is blank or a comment)");
    CHECK(parse_error("# only\n").find("no tokens") != std::string::npos);
    CHECK(parse_error("tok-eq1-0123456789abcdef\n").find("tokens:1:") == 0);
    CHECK(parse_error("\nshort eq1\n").find("tokens:2: token is shorter") == 0);
    CHECK(parse_error("tok-eq1-0123456789abcdef eq/1\n").find("tokens:1: equipment pattern") == 0);
    CHECK(parse_error("tok-eq1-0123456789abcdef a b c\n").find("4 field(s)") != std::string::npos);
}

TEST_CASE("authorize: tokens, client certificates, insecure mode", "[receiver][unit]") {
    auto t = parse_ok("tok-eq1-0123456789abcdef eq1\n");
    std::vector<std::string> none, eq1_cert{"eq1"}, eq2_cert{"eq2", "eq2.lab.example"};
    CHECK(authorize(&t, false, "Bearer tok-eq1-0123456789abcdef", none, "eq1").outcome ==
          auth_outcome::granted);
    CHECK(authorize(&t, false, std::nullopt, none, "eq1").outcome == auth_outcome::missing);
    auto by_cert = authorize(&t, false, std::nullopt, eq1_cert, "eq1");
    CHECK(by_cert.outcome == auth_outcome::granted);
    CHECK(by_cert.principal == "cert:eq1");
    CHECK(authorize(&t, false, std::nullopt, eq2_cert, "eq1").outcome == auth_outcome::forbidden);
    CHECK(authorize(&t, false, "Bearer tok-eq1-0123456789abcdef", eq2_cert, "eq2").outcome ==
          auth_outcome::granted);
    CHECK(authorize(&t, false, "Bearer nope-nope-nope-nope", eq2_cert, "eq1").outcome ==
          auth_outcome::unknown);
    CHECK(authorize(nullptr, true, std::nullopt, none, "eq9").outcome == auth_outcome::granted);
    CHECK(authorize(nullptr, false, std::nullopt, none, "eq9").outcome == auth_outcome::missing);
    CHECK(authorize(nullptr, false, std::nullopt, eq1_cert, "eq1").outcome == auth_outcome::granted);
    // --insecure-no-auth does not override a tokens file.
    CHECK(authorize(&t, true, std::nullopt, none, "eq1").outcome == auth_outcome::missing);
    CHECK(status_for(auth_outcome::forbidden) == 403);
    CHECK(status_for(auth_outcome::unknown) == 401);
}

TEST_CASE("commit allow-list parsing and matching", "[receiver][unit]") {
    std::string error;
    auto list = commit_allowlist::parse(
        "# deployed\n  ABCDEF0123  \n\n0123456789abcdef0123456789abcdef01234567 # v1\n", "allowed", error);
    REQUIRE(list);
    CHECK(list->size() == 2);
    CHECK(list->allows("abcdef0123"));
    CHECK(list->allows("abcdef0"));
    CHECK(list->allows("abcdef0123456789"));
    CHECK(list->allows("0123456789ABCDEF0123456789abcdef01234567"));
    CHECK_FALSE(list->allows("abcdef1"));
    CHECK_FALSE(list->allows("abcdef"));  // too short to be an id
    CHECK_FALSE(commit_allowlist::parse("main\n", "allowed", error));
    CHECK(error == "allowed:1: `main` is not a git commit (7 to 64 hex digits)");
    auto empty = commit_allowlist::parse("# nothing yet\n", "allowed", error);
    REQUIRE(empty);
    CHECK_FALSE(empty->allows("abcdef0"));
}
