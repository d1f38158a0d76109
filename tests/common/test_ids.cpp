// The one identifier rule (labsync/common/ids.hpp), as a table: every module that takes an
// equipment name or a run id (receiver routes, config loader, admin protocol, job store, engine,
// drivers) calls this function, so this table is the rule's whole test.
#include "labsync/common/ids.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace labsync::common;

TEST_CASE("the id rule refuses empty, long, foreign characters, leading dots and reserved names",
          "[common][unit]") {
    struct row {
        std::string id;
        id_refusal equipment;  // verdict as an equipment name (max 64)
        id_refusal run;        // verdict as a run id (max 128)
        std::string reason;    // part of id_refusal_reason(equipment, id) when refused
    };
    const auto ok = id_refusal::none;
    const std::vector<row> table = {
        {"scope-1", ok, ok, ""},
        {"Micro-scope_2.a", ok, ok, ""},
        {"run_2024.01.01", ok, ok, ""},
        {"a..b", ok, ok, ""},
        {"trailing.", ok, ok, ""},
        {"-leading-dash", ok, ok, ""},
        {"0", ok, ok, ""},
        {std::string(64, 'e'), ok, ok, ""},
        {std::string(65, 'e'), id_refusal::too_long, ok, "at most 64"},
        {std::string(128, 'r'), id_refusal::too_long, ok, "at most 64"},
        {std::string(129, 'r'), id_refusal::too_long, id_refusal::too_long, "129 characters"},
        {"", id_refusal::empty, id_refusal::empty, "is empty"},
        {".", id_refusal::leading_dot, id_refusal::leading_dot, "starts with '.'"},
        {"..", id_refusal::leading_dot, id_refusal::leading_dot, "starts with '.'"},
        {"...", id_refusal::leading_dot, id_refusal::leading_dot, "starts with '.'"},
        {".hidden", id_refusal::leading_dot, id_refusal::leading_dot, "starts with '.'"},
        {".labsync", id_refusal::leading_dot, id_refusal::leading_dot, "starts with '.'"},
        {".tmp", id_refusal::reserved, id_refusal::reserved, "reserved"},
        {".labsync-staging", id_refusal::reserved, id_refusal::reserved, "reserved"},
        {"run.labsync~deleting", id_refusal::bad_char, id_refusal::bad_char, "found '~'"},
        {"a/b", id_refusal::bad_char, id_refusal::bad_char, "found '/'"},
        {"../x", id_refusal::bad_char, id_refusal::bad_char, "found '/'"},
        {"a b", id_refusal::bad_char, id_refusal::bad_char, "found ' '"},
        {"a'b", id_refusal::bad_char, id_refusal::bad_char, "found '''"},
        {"a%2e", id_refusal::bad_char, id_refusal::bad_char, "found '%'"},
        {"a*", id_refusal::bad_char, id_refusal::bad_char, "found '*'"},
        {std::string("a\0b", 3), id_refusal::bad_char, id_refusal::bad_char, "found '\\x00'"},
        {"\xc3\xa4", id_refusal::bad_char, id_refusal::bad_char, "found '\\xc3'"},
        {"a\nb", id_refusal::bad_char, id_refusal::bad_char, "found '\\x0a'"},
    };
    for (const auto& r : table) {
        INFO("id \"" << r.id << "\" (" << r.id.size() << " bytes)");
        CHECK(check_id(id_kind::equipment, r.id) == r.equipment);
        CHECK(check_id(id_kind::run, r.id) == r.run);
        CHECK(valid_equipment_id(r.id) == (r.equipment == ok));
        CHECK(valid_run_id(r.id) == (r.run == ok));
        const auto why = id_refusal_reason(id_kind::equipment, r.id);
        if (r.equipment == ok) {
            CHECK(why.empty());
        } else {
            CHECK_THAT(why, Catch::StartsWith("equipment name"));
            CHECK_THAT(why, Catch::Contains(r.reason));
        }
        CHECK(id_refusal_reason(id_kind::run, r.id).empty() == (r.run == ok));
    }
}

TEST_CASE("every name the storage layouts reserve is refused as both kinds", "[common][unit]") {
    for (auto name : reserved_names) {
        INFO(name);
        CHECK_FALSE(valid_equipment_id(name));
        CHECK_FALSE(valid_run_id(name));
    }
}

TEST_CASE("ids_refusal_reason names the first refused id of a pair", "[common][unit]") {
    CHECK(ids_refusal_reason("scope-1", "run-7").empty());
    CHECK_THAT(ids_refusal_reason(".tmp", "run-7"), Catch::StartsWith("equipment name \".tmp\""));
    CHECK_THAT(ids_refusal_reason("scope-1", "a b"), Catch::StartsWith("run id \"a b\""));
    // A long id is capped in the message.
    CHECK(id_refusal_reason(id_kind::run, std::string(100000, 'x')).size() < 300);
}
