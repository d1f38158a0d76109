// The admin socket codec: round trips, malformed requests, run references.
#include "admin/admin_protocol.hpp"

#include <catch2/catch.hpp>

using namespace labsync::apps;

TEST_CASE("requests round-trip through the codec", "[admin]") {
    std::vector<admin_request> requests = {
        {.op = admin_op::status},
        {.op = admin_op::list, .state = labsync::queue::job_state::failed},
        {.op = admin_op::enqueue, .path = "/data/scope-1/run-42"},
        {.op = admin_op::retry, .run = "scope-1/run-42", .who = "ana"},
        {.op = admin_op::override_block, .run = "#17", .who = "ana", .why = "marker written by hand"},
        {.op = admin_op::override_block, .run = "#18", .why = "no note"},
        {.op = admin_op::cancel, .run = "eq-old/run-7", .who = "ana", .why = "equipment retired"},
        {.op = admin_op::cancel, .run = "#19", .why = "duplicate"},
        {.op = admin_op::verify, .run = "run-42"},
        {.op = admin_op::show, .run = "eq1/run-42"},
    };
    for (const auto& r : requests) {
        std::string line = encode_request(r);
        CHECK(line.find('\n') == std::string::npos);
        std::string why;
        auto back = decode_request(line, why);
        INFO(line << " " << why);
        REQUIRE(back);
        CHECK(back->op == r.op);
        CHECK(back->state == r.state);
        CHECK(back->path == r.path);
        CHECK(back->run == r.run);
        CHECK(back->who == r.who);
        CHECK(back->why == r.why);
    }
}

TEST_CASE("malformed requests are refused with a reason", "[admin]") {
    struct bad {
        std::string line, why;
    };
    std::vector<bad> cases = {
        {"not json", "not a JSON object"},
        {"[1,2]", "not a JSON object"},
        {R"({})", "\"op\" is required"},
        {R"({"op":5})", "\"op\" must be a string"},
        {R"({"op":"explode"})", "unknown op"},
        {R"({"op":"list","state":"sleeping"})", "unknown state"},
        {R"({"op":"enqueue"})", "\"path\" is required"},
        {R"({"op":"enqueue","path":"relative/run"})", "must be absolute"},
        {R"({"op":"retry"})", "\"run\" is required"},
        {R"({"op":"retry","run":"a b"})", "may only contain"},
        {R"({"op":"retry","run":"scope/.tmp"})", "run id \".tmp\" is reserved"},
        {R"({"op":"retry","run":".scope/r"})", "starts with '.'"},
        {R"({"op":"override","run":"r","who":"w"})", "\"why\" is required"},
        {R"({"op":"override","run":"r","why":""})", "\"why\" must not be empty"},
        {R"({"op":"cancel","run":"r"})", "\"why\" is required"},
        {R"({"op":"cancel","why":"x"})", "\"run\" is required"},
        {R"({"op":"cancel","run":"r","why":"x","who":"a\nb"})", "control characters"},
        {R"({"op":"retry","run":"r","who":5})", "\"who\" must be a string"},
        {R"({"op":"verify","run":"#x"})", "not a job id"},
    };
    for (const auto& c : cases) {
        std::string why;
        INFO(c.line);
        CHECK_FALSE(decode_request(c.line, why));
        CHECK_THAT(why, Catch::Contains(c.why));
    }
    std::string why;
    CHECK_FALSE(decode_request(std::string(admin_max_line + 1, ' '), why));
}

TEST_CASE("responses round-trip", "[admin]") {
    admin_response ok;
    ok.data = {{"jobs", nlohmann::json::array()}};
    std::string why;
    auto back = decode_response(encode_response(ok), why);
    REQUIRE(back);
    CHECK(back->ok);
    CHECK(back->data == ok.data);
    auto err = decode_response(encode_response(admin_error("no_job", "no job for run x")), why);
    REQUIRE(err);
    CHECK_FALSE(err->ok);
    CHECK(err->error == "no_job");
    CHECK(err->message == "no job for run x");
    CHECK_FALSE(decode_response("garbage", why));
}

TEST_CASE("run references", "[admin]") {
    std::string why;
    auto a = parse_run_reference("scope-1/run-42", why);
    REQUIRE(a);
    REQUIRE(std::holds_alternative<run_by_id>(*a));
    CHECK(std::get<run_by_id>(*a).equipment == "scope-1");
    CHECK(std::get<run_by_id>(*a).run_id == "run-42");
    auto b = parse_run_reference("run-42", why);
    REQUIRE(b);
    CHECK(std::get<run_by_id>(*b).equipment.empty());
    auto c = parse_run_reference("#17", why);
    REQUIRE(c);
    CHECK(std::get<run_by_job>(*c).job_id == 17);
    auto d = parse_run_reference("/data/scope-1/run-42", why);
    REQUIRE(d);
    CHECK(std::get<run_by_path>(*d).path == "/data/scope-1/run-42");
    CHECK_FALSE(parse_run_reference("", why));
    CHECK_FALSE(parse_run_reference("#0", why));
    CHECK_FALSE(parse_run_reference("a/b/c", why));
    CHECK_FALSE(parse_run_reference("sc ope/run", why));
}

TEST_CASE("job JSON has every stable field", "[admin]") {
    labsync::queue::job j;
    j.id = 3;
    j.equipment = "e";
    j.run_id = "r";
    j.state = labsync::queue::job_state::failed;
    j.last_error_kind = "auth";
    j.last_error = "401";
    auto out = job_json(j);
    for (const char* key : {"id", "equipment", "run_id", "run_path", "state", "attempts", "created_at",
                            "updated_at", "next_attempt_at", "last_error_kind", "last_error", "bytes",
                            "archive_sha256", "started_at", "finished_at"})
        CHECK(out.contains(key));
    CHECK(out["state"] == "failed");
    CHECK(out["bytes"].is_null());
    CHECK(out["created_at"] == "1970-01-01T00:00:00.000Z");
}
