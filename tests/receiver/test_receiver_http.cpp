// The receiver's main paths against the real binary with curl: store, re-PUT, conflict, sha
// mismatch, GET, ping, healthz, metrics, commit allow-list, Expect: 100-continue.
#include "receiver_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace labsync::test;
namespace fs = std::filesystem;

TEST_CASE("PUT stores a run once, re-PUT is 200, a different body is 409", "[receiver][http]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a.tar.zst", 3 << 20, 1);
    auto sha = sha256_of_file(blob);

    auto first = curl_put(rx, "eq1", "run-001", blob);
    REQUIRE(first.status == 201);
    auto body = nlohmann::json::parse(first.body);
    CHECK(body["sha256"] == sha);
    CHECK(body["bytes"] == 3 << 20);
    CHECK(read_file(rx.store() / "eq1" / "run-001.tar.zst") == read_file(blob));
    auto sidecar = nlohmann::json::parse(read_file(rx.store() / "eq1" / "run-001.json"));
    CHECK(sidecar["sha256"] == sha);
    CHECK(sidecar["bytes"] == 3 << 20);
    CHECK(sidecar["stored_at"].get<std::string>().size() == 20);
    CHECK(sidecar["client"].get<std::string>().find("token@") != std::string::npos);

    auto again = curl_put(rx, "eq1", "run-001", blob);
    CHECK(again.status == 200);
    auto other = make_blob(tmp / "b.tar.zst", 3 << 20, 2);
    auto conflict = curl_put(rx, "eq1", "run-001", other);
    CHECK(conflict.status == 409);
    CHECK(nlohmann::json::parse(conflict.body)["error"] == "conflict");
    CHECK(read_file(rx.store() / "eq1" / "run-001.tar.zst") == read_file(blob));

    auto get = curl(rx.run_url("eq1", "run-001"), auth_args(rx.token()));
    REQUIRE(get.status == 200);
    auto info = nlohmann::json::parse(get.body);
    CHECK(info["sha256"] == sha);
    CHECK(info["bytes"] == 3 << 20);
    CHECK(info.contains("stored_at"));
    CHECK(curl(rx.run_url("eq1", "run-404"), auth_args(rx.token())).status == 404);
    CHECK(store_files(rx.store()) == std::vector<std::string>{"eq1/run-001.json", "eq1/run-001.tar.zst"});
}

TEST_CASE("a body that does not match X-Content-SHA256 is 422 and leaves nothing", "[receiver][http]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a.tar.zst", 1 << 20, 3);
    auto sha = sha256_of_file(blob);
    auto data = read_file(blob);
    data[12345] = static_cast<char>(data[12345] ^ 0x01);  // one flipped bit
    write_file(blob, data);
    auto r = curl_put(rx, "eq1", "run-flip", blob, sha);
    CHECK(r.status == 422);
    CHECK(nlohmann::json::parse(r.body)["error"] == "sha256_mismatch");
    CHECK(store_files(rx.store()).empty());
}

TEST_CASE("an empty body is a valid upload without the member check", "[receiver][http]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    write_file(tmp / "empty", "");
    CHECK(curl_put(rx, "eq1", "run-empty", tmp / "empty").status == 201);
    CHECK(fs::file_size(rx.store() / "eq1" / "run-empty.tar.zst") == 0);
}

TEST_CASE("an id starting with a dot (.tmp, the store's temp dir) is 400 and nothing is stored",
          "[receiver][http]") {
    // Before: a token for "*" could PUT /v1/runs/.tmp/x; the run landed in the store's temp
    // directory, where the next start's cleanup deletes it.
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 100000, 5);
    const auto admin = auth_args(receiver_options::admin_token);
    struct row {
        std::string equipment, run, refused;
    };
    const std::vector<row> rows = {
        {".tmp", "x", ".tmp"},
        {".tmp", "upload.1.x", ".tmp"},
        {".labsync", "x", ".labsync"},
        {"eq1", ".hidden", ".hidden"},
    };
    for (const auto& r : rows) {
        INFO(r.equipment << "/" << r.run);
        auto put = curl_put(rx, r.equipment, r.run, blob, std::nullopt, admin);
        CHECK(put.status == 400);
        if (put.status == 400) {
            auto body = nlohmann::json::parse(put.body);
            CHECK(body["error"] == "bad_id");
            CHECK_THAT(body["message"].get<std::string>(), Catch::Contains("\"" + r.refused + "\""));
        }
        CHECK(curl(rx.run_url(r.equipment, r.run), admin).status == 400);
    }
    CHECK(store_files(rx.store()).empty());
    CHECK(fs::is_empty(rx.store() / ".tmp"));
}

TEST_CASE("ping, healthz and metrics", "[receiver][http]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    CHECK(curl(rx.url() + "/v1/ping", {"-X", "POST"}).status == 401);
    CHECK(curl(rx.url() + "/v1/ping", {"-X", "POST", "-H", "Authorization: Bearer nope-nope-nope-nope"})
              .status == 401);
    CHECK(curl(rx.url() + "/v1/ping", {"-X", "POST", "-H", "Authorization: Bearer " + rx.token()}).status ==
          200);
    CHECK(curl(rx.url() + "/healthz", {}).status == 200);
    auto blob = make_blob(tmp / "a", 100000, 4);
    REQUIRE(curl_put(rx, "eq1", "r1", blob).status == 201);
    auto m = curl(rx.url() + "/metrics", {});
    REQUIRE(m.status == 200);
    CHECK(m.body.find("labsync_receiver_requests_total{method=\"PUT\",code=\"201\"} 1") != std::string::npos);
    CHECK(m.body.find("labsync_receiver_requests_total{method=\"POST\",code=\"401\"} 2") !=
          std::string::npos);
    CHECK(m.body.find("labsync_receiver_bytes_received_total 100000") != std::string::npos);
    CHECK(m.body.find("labsync_receiver_upload_duration_seconds_count 1") != std::string::npos);
    CHECK(m.body.find("labsync_receiver_uploads_in_flight 0") != std::string::npos);
    CHECK(m.body.find("labsync_receiver_store_free_bytes ") != std::string::npos);
    CHECK(store_files(rx.store()).size() == 2);  // ping wrote nothing
}

TEST_CASE("ping?equipment=E: 200 only when the credentials grant E", "[receiver][http]") {
    // Before: the ping accepted any equipment, so a token for another instrument passed it.
    receiver_fixture rx(blob_options());
    auto ping = [&](const std::string& equipment, const std::string& token) {
        std::vector<std::string> args{"-X", "POST"};
        if (!token.empty()) args.insert(args.end(), {"-H", "Authorization: Bearer " + token});
        return curl(rx.url() + "/v1/ping?equipment=" + equipment, args);
    };
    CHECK(ping("eq1", rx.token()).status == 200);
    auto wrong = ping("eq2", rx.token());
    CHECK(wrong.status == 403);
    CHECK_THAT(wrong.body, Catch::Contains("forbidden"));
    CHECK(ping("lab-7", receiver_options::lab_token).status == 200);
    CHECK(ping("eq1", receiver_options::lab_token).status == 403);
    CHECK(ping("eq2", receiver_options::admin_token).status == 200);
    CHECK(ping("eq1", "").status == 401);
    CHECK(ping("eq1", "nope-nope-nope-nope").status == 401);
    auto bad = ping("..", rx.token());
    CHECK(bad.status == 400);
    CHECK_THAT(bad.body, Catch::Contains("bad_id"));
    CHECK(curl(rx.url() + "/v1/ping", {"-X", "POST", "-H", std::string("Authorization: Bearer ") +
                                                              receiver_options::lab_token})
              .status == 200);  // without ?equipment= any grant still passes
}

TEST_CASE("commit allow-list: 412 with a fix, allowed commits pass", "[receiver][http]") {
    receiver_options opts = blob_options();
    opts.allowed_commits =
        std::vector<std::string>{"# deployed builds", "0123456789abcdef0123456789abcdef01234567"};
    receiver_fixture rx(opts);
    temp_dir tmp;
    auto blob = make_blob(tmp / "a", 5000, 5);
    auto none = curl_put(rx, "eq1", "r1", blob);
    CHECK(none.status == 412);
    auto wrong = curl_put(rx, "eq1", "r1", blob, std::nullopt, {"-H", "X-Code-Commit: deadbeefdeadbeef"});
    CHECK(wrong.status == 412);
    auto msg = nlohmann::json::parse(wrong.body)["message"].get<std::string>();
    CHECK(msg.find("deadbeefdeadbeef") != std::string::npos);
    CHECK(msg.find("allowed-commits") != std::string::npos);
    CHECK(curl_put(rx, "eq1", "r1", blob, std::nullopt, {"-H", "X-Code-Commit: 0123456"}).status == 201);
    auto sidecar = nlohmann::json::parse(read_file(rx.store() / "eq1" / "r1.json"));
    CHECK(sidecar["code_commit"] == "0123456");
}

TEST_CASE("Expect: 100-continue: refused before the body, accepted with 100", "[receiver][http]") {
    receiver_fixture rx({.member_check = false, .extra_args = {"--max-body", "1M"}});
    const std::string sha(64, 'a');
    auto head = [&](const std::string& token, std::size_t length) {
        return "PUT /v1/runs/eq1/r1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token +
               "\r\nX-Content-SHA256: " + sha + "\r\nContent-Length: " + std::to_string(length) +
               "\r\nExpect: 100-continue\r\n\r\n";
    };
    {
        raw_conn c(rx.port());
        c.send(head("wrong-token-0123456789", 1000));
        auto got = c.read_until("\r\n\r\n");
        CHECK(got.starts_with("HTTP/1.1 401"));
    }
    {
        raw_conn c(rx.port());
        c.send(head(rx.token(), 2 << 20));
        CHECK(c.read_until("\r\n\r\n").starts_with("HTTP/1.1 413"));
    }
    {
        raw_conn c(rx.port());
        c.send(head(rx.token(), 10));
        CHECK(c.read_until("\r\n\r\n").starts_with("HTTP/1.1 100 Continue"));
        c.send("0123456789");
        CHECK(c.read_until("}").find("HTTP/1.1 422") != std::string::npos);  // sha was 'aaa…'
    }
    CHECK(store_files(rx.store()).empty());
}

TEST_CASE("member check: a pack-style archive is stored, a member that differs from the manifest is 422",
          "[receiver][http][member]") {
    // Member check on by default; on one thread (--check-threads 1) and on two (the default).
    std::string threads = GENERATE(as<std::string>{}, "1", "2");
    INFO("--check-threads " << threads);
    receiver_fixture rx({.extra_args = {"--check-threads", threads}});
    temp_dir tmp;
    auto good = make_run_archive(tmp / "g");
    auto bad = make_run_archive(tmp / "b", true);
    auto ok = curl_put(rx, "eq1", "run-good", good);
    CHECK(ok.status == 201);
    auto r = curl_put(rx, "eq1", "run-bad", bad);  // its own sha is right: only a member is wrong
    CHECK(r.status == 422);
    auto j = nlohmann::json::parse(r.body);
    CHECK(j["error"] == "member_mismatch");
    CHECK(j["message"].get<std::string>().find("a.bin") != std::string::npos);
    // Not an archive at all.
    auto blob = make_blob(tmp / "blob", 50000, 9);
    auto junk = curl_put(rx, "eq1", "run-junk", blob);
    CHECK(junk.status == 422);
    CHECK(nlohmann::json::parse(junk.body)["error"] == "member_mismatch");
    // A flipped byte in a good archive: the sha check speaks first.
    auto data = read_file(good);
    auto sha = sha256_of_file(good);
    data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x40);
    write_file(tmp / "flipped", data);
    auto flipped = curl_put(rx, "eq1", "run-flip", tmp / "flipped", sha);
    CHECK(flipped.status == 422);
    CHECK(nlohmann::json::parse(flipped.body)["error"] == "sha256_mismatch");
    CHECK(store_files(rx.store()) == std::vector<std::string>{"eq1/run-good.json", "eq1/run-good.tar.zst"});
}
