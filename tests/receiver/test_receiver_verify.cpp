// The verify request (GET /v1/runs/{eq}/{run}?verify=1) against the real receiver with curl: the
// answer comes from the stored bytes re-hashed now, not from the sidecar, a mismatch is a 409
// stored_bytes_mismatch (never a 404) counted in /metrics, and a re-PUT repairs the copy.
#include "receiver_client.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace labsync::test;
namespace fs = std::filesystem;

namespace {

// One flipped bit in the middle of the stored archive: same size, sidecar untouched.
void flip_stored_byte(const fs::path& file) {
    auto data = read_file(file);
    REQUIRE(data.size() > 1000);
    data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x01);
    write_file(file, data);
}

std::string metric_line(const receiver_fixture& rx, const std::string& name) {
    auto m = curl(rx.url() + "/metrics", {});
    REQUIRE(m.status == 200);
    auto at = m.body.find("\n" + name + " ");
    if (at == std::string::npos) return "";
    return m.body.substr(at + 1, m.body.find('\n', at + 1) - at - 1);
}

}  // namespace

TEST_CASE("verify: a byte flipped in the store after upload is 409 stored_bytes_mismatch and counted",
          "[receiver][http][verify]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a.tar.zst", 2 << 20, 7);
    const auto sha = sha256_of_file(blob);
    REQUIRE(curl_put(rx, "eq1", "run-001", blob).status == 201);
    const auto verify_url = rx.run_url("eq1", "run-001") + "?verify=1";

    auto good = curl(verify_url, auth_args(rx.token()));
    REQUIRE(good.status == 200);
    auto body = nlohmann::json::parse(good.body);
    CHECK(body["sha256"] == sha);
    CHECK(body["bytes"] == 2 << 20);
    CHECK(body["verified"] == true);
    CHECK(body.contains("stored_at"));

    const auto stored = rx.store() / "eq1" / "run-001.tar.zst";
    flip_stored_byte(stored);
    REQUIRE(fs::file_size(stored) == 2u << 20);
    // The record alone still says all is well; the verify request reads the bytes.
    CHECK(curl(rx.run_url("eq1", "run-001"), auth_args(rx.token())).status == 200);
    auto bad = curl(verify_url, auth_args(rx.token()));
    CHECK(bad.status == 409);
    auto why = nlohmann::json::parse(bad.body);
    CHECK(why["error"] == "stored_bytes_mismatch");
    CHECK(why["sha256"] == sha);
    CHECK(why["bytes"] == 2 << 20);
    CHECK(why["actual_sha256"] == sha256_of_file(stored));
    CHECK(why["actual_sha256"] != sha);
    CHECK(why["actual_bytes"] == 2 << 20);
    CHECK(why["message"].get<std::string>().find("eq1/run-001") != std::string::npos);

    CHECK(metric_line(rx, "labsync_receiver_verifications_total") ==
          "labsync_receiver_verifications_total 2");
    CHECK(metric_line(rx, "labsync_receiver_verify_mismatch_total") ==
          "labsync_receiver_verify_mismatch_total 1");
    // Absent is still 404, authorization still applies.
    CHECK(curl(rx.run_url("eq1", "run-404") + "?verify=1", auth_args(rx.token())).status == 404);
    CHECK(curl(verify_url, {}).status == 401);
}

TEST_CASE("verify: a re-PUT of the same archive over damaged stored bytes replaces them",
          "[receiver][http][verify]") {
    receiver_fixture rx(blob_options());
    temp_dir tmp;
    auto blob = make_blob(tmp / "a.tar.zst", 1 << 20, 8);
    REQUIRE(curl_put(rx, "eq1", "run-002", blob).status == 201);
    const auto stored = rx.store() / "eq1" / "run-002.tar.zst";
    flip_stored_byte(stored);
    auto again = curl_put(rx, "eq1", "run-002", blob);
    CHECK(again.status == 201);
    CHECK(read_file(stored) == read_file(blob));
    CHECK(curl(rx.run_url("eq1", "run-002") + "?verify=1", auth_args(rx.token())).status == 200);
    CHECK(curl_put(rx, "eq1", "run-002", blob).status == 200);  // intact: "already stored"
    CHECK(store_files(rx.store()) == std::vector<std::string>{"eq1/run-002.json", "eq1/run-002.tar.zst"});
}
