// Unit tests of the resumable-upload rules (core/upload_rules): structured fields, Repr-Digest,
// the state's JSON form, expiry, and the header and state decisions.
#include "labsync/receiver/upload_rules.hpp"

#include "labsync/verifier/sha256.hpp"

#include <catch2/catch.hpp>

using namespace labsync::receiver;

TEST_CASE("upload rules: structured-field booleans and integers", "[receiver][upload]") {
    CHECK(parse_sf_boolean("?1") == true);
    CHECK(parse_sf_boolean(" ?0 ") == false);
    CHECK_FALSE(parse_sf_boolean("1"));
    CHECK_FALSE(parse_sf_boolean("true"));
    CHECK(parse_sf_integer("0") == 0u);
    CHECK(parse_sf_integer("999999999999999") == 999999999999999u);
    CHECK_FALSE(parse_sf_integer("1000000000000000"));  // 16 digits
    CHECK_FALSE(parse_sf_integer("-1"));
    CHECK_FALSE(parse_sf_integer("12a"));
    CHECK_FALSE(parse_sf_integer(""));
}

TEST_CASE("upload rules: Repr-Digest sha-256 round trip and refusals", "[receiver][upload]") {
    auto hex = labsync::verifier::to_hex(labsync::verifier::sha256::of("abc"));
    auto field = repr_digest_of(hex);
    CHECK(field == "sha-256=:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=:");
    std::string why;
    CHECK(parse_repr_digest(field, why) == hex);
    CHECK(parse_repr_digest("sha-512=:AAAA:, " + field, why) == hex);
    CHECK_FALSE(parse_repr_digest("sha-512=:AAAA:", why));
    CHECK(why.find("no sha-256") != std::string::npos);
    CHECK_FALSE(parse_repr_digest("sha-256=" + hex, why));
    CHECK(why.find("RFC 9530") != std::string::npos);
    CHECK_FALSE(parse_repr_digest("sha-256=:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!=:", why));
}

TEST_CASE("upload rules: ids, targets, expiry values", "[receiver][upload]") {
    CHECK(valid_upload_id("0123456789abcdef0123456789abcdef"));
    CHECK_FALSE(valid_upload_id("0123456789ABCDEF0123456789abcdef"));
    CHECK_FALSE(valid_upload_id("../etc"));
    CHECK(upload_target("/v1/uploads/abc?x=1") == std::string_view("abc"));
    CHECK_FALSE(upload_target("/v1/runs/e/r"));
    CHECK(parse_expiry("7d") == std::chrono::seconds(7 * 86400));
    CHECK(parse_expiry("90") == std::chrono::seconds(90));
    CHECK(parse_expiry("30m") == std::chrono::seconds(1800));
    CHECK_FALSE(parse_expiry("0s"));
    CHECK_FALSE(parse_expiry("7w"));
    CHECK_FALSE(parse_expiry(""));
}

TEST_CASE("upload rules: state JSON round trip and expiry", "[receiver][upload]") {
    upload_state s;
    s.equipment = "eq1";
    s.run = "r1";
    s.length = 123;
    s.offset = 45;
    s.created = 1000;
    s.updated = 2000;
    s.sha256 = std::string(64, 'a');
    s.client = "tok 127.0.0.1:1";
    auto back = parse_upload_state(upload_state_json(s));
    REQUIRE(back);
    CHECK(back->length == 123u);
    CHECK(back->offset == 45u);
    CHECK(back->updated == 2000);
    CHECK(back->client == s.client);
    s.length.reset();
    CHECK_FALSE(parse_upload_state(upload_state_json(s))->length);
    CHECK_FALSE(parse_upload_state("{\"equipment\":1}"));
    CHECK_FALSE(upload_expired(s, 2000 + 59, std::chrono::seconds(60)));
    CHECK(upload_expired(s, 2000 + 60, std::chrono::seconds(60)));
    CHECK(upload_expires_in(s, 2010, std::chrono::seconds(60)) == 50);
    CHECK(upload_limit_value(1024, 50) == "max-append-size=1024, expires=50");
    CHECK(upload_limit_value(1024, std::nullopt) == "max-append-size=1024");
}

TEST_CASE("upload rules: append headers", "[receiver][upload]") {
    append_facts f;
    f.upload_complete = "?0";
    f.upload_offset = "10";
    f.content_type = partial_upload_type;
    f.content_length = 5;
    f.max_append = 100;
    append_request r;
    CHECK(check_append_headers(f, r).accepted());
    CHECK(r.offset == 10u);
    CHECK(r.body == 5u);

    auto status_with = [&](auto change) {
        append_facts g = f;
        change(g);
        append_request out;
        return check_append_headers(g, out).status;
    };
    CHECK(status_with([](append_facts& g) { g.upload_complete.reset(); }) == 400);
    CHECK(status_with([](append_facts& g) { g.upload_offset.reset(); }) == 400);
    CHECK(status_with([](append_facts& g) { g.upload_offset = "x"; }) == 400);
    CHECK(status_with([](append_facts& g) { g.interop_version = "5"; }) == 400);
    CHECK(status_with([](append_facts& g) { g.interop_version = "6"; }) == 0);
    CHECK(status_with([](append_facts& g) { g.chunked = true; }) == 411);
    CHECK(status_with([](append_facts& g) { g.content_length = 101; }) == 413);
    CHECK(status_with([](append_facts& g) { g.content_type = "application/octet-stream"; }) == 415);
    CHECK(status_with([](append_facts& g) {
              g.content_type.reset();
              g.content_length = 0;
          }) == 0);
    CHECK(status_with([](append_facts& g) { g.repr_digest = "sha-256=abc"; }) == 400);
    // Creation: no offset needed, any Content-Type, a complete body must match Upload-Length.
    CHECK(status_with([](append_facts& g) {
              g.creation = true;
              g.upload_offset.reset();
              g.content_type.reset();
          }) == 0);
    CHECK(status_with([](append_facts& g) {
              g.creation = true;
              g.upload_complete = "?1";
              g.upload_length = "6";
          }) == 400);
}

TEST_CASE("upload rules: append against the stored state", "[receiver][upload]") {
    upload_state s;
    s.offset = 10;
    s.length = 20;
    append_request r;
    r.offset = 10;
    r.body = 5;
    CHECK(check_append_state(s, r).accepted());
    r.offset = 7;
    auto mismatch = check_append_state(s, r);
    CHECK(mismatch.status == 409);
    CHECK(mismatch.message.find("offset 10") != std::string::npos);
    r.offset = 10;
    r.body = 11;
    CHECK(check_append_state(s, r).status == 400);  // past the length
    r.body = 5;
    r.complete = true;
    CHECK(check_append_state(s, r).status == 400);  // completes short of the length
    r.body = 10;
    CHECK(check_append_state(s, r).error == "digest_required");
    r.sha256 = std::string(64, 'b');
    CHECK(check_append_state(s, r).accepted());
    r.length = 21;
    CHECK(check_append_state(s, r).status == 400);
    r.length.reset();
    s.complete = true;
    s.result = 201;
    CHECK(check_append_state(s, r).error == "upload_completed");
    CHECK(check_space(100, 150, 60).status == 507);
    CHECK(check_space(100, 160, 60).accepted());
    CHECK(check_space(100, std::nullopt, 60).accepted());
}
