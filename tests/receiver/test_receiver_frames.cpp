// The member check on archives of several zstd frames (what `syncd pack` writes since frames are
// cut every 16 MiB of input), against the real receiver with curl: accepted on one and two check
// threads, stored (level 0) and adaptive archives too; a damaged second frame is 422 naming the
// member; an old single-frame archive (tar | zstd) is still accepted. And fairness: a small upload
// is not held up by a huge one being checked on the same disk pool.
#include "receiver_client.hpp"

#include "labsync/verifier/archive_writer.hpp"

#include <zstd.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <thread>

using namespace labsync::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::vector<std::size_t> frame_sizes(const std::string& data) {
    std::vector<std::size_t> out;
    for (std::size_t at = 0; at < data.size();) {
        std::size_t n = ZSTD_findFrameCompressedSize(data.data() + at, data.size() - at);
        REQUIRE_FALSE(ZSTD_isError(n));
        out.push_back(n);
        at += n;
    }
    return out;
}

fs::path pack(const fs::path& run, const fs::path& out, int level) {
    labsync::verifier::pack_options o;
    o.level = level;
    auto r = labsync::verifier::pack_run(run, out, o);
    INFO(r.error_message);
    REQUIRE(r.ok());
    return out;
}

}  // namespace

TEST_CASE("member check: multi-frame archives are accepted, a damaged second frame is 422 naming the member",
          "[receiver][http][member]") {
    std::string threads = GENERATE(as<std::string>{}, "1", "2");
    INFO("--check-threads " << threads);
    receiver_fixture rx({.extra_args = {"--check-threads", threads}});
    temp_dir tmp;
    // 36 MiB of noise: frames of 16 + 16 + 4 MiB of input, all inside a.bin.
    make_blob(tmp / "run" / "a.bin", 36u << 20, 5);
    write_file(tmp / "run" / "b.csv", std::string(3u << 20, 'x') + "1,2,3\n");
    write_file(tmp / "run" / "done.marker", "");
    auto good = pack(tmp / "run", tmp / "l3.tar.zst", 3);
    auto bytes = read_file(good);
    auto frames = frame_sizes(bytes);
    REQUIRE(frames.size() == 3);
    CHECK(curl_put(rx, "eq1", "run-l3", good).status == 201);
    CHECK(curl_put(rx, "eq1", "run-store",
                   pack(tmp / "run", tmp / "l0.tar.zst", labsync::verifier::zstd_level_store))
              .status == 201);
    CHECK(curl_put(rx, "eq1", "run-adaptive",
                   pack(tmp / "run", tmp / "la.tar.zst", labsync::verifier::zstd_level_adaptive))
              .status == 201);
    // An old sender's archive: one frame (tar | zstd).
    CHECK(curl_put(rx, "eq1", "run-old", make_run_archive(tmp / "old")).status == 201);

    // One flipped byte in the middle of the second frame; the sha sent is the damaged file's, so
    // only the member check can object.
    bytes[frames[0] + frames[1] / 2] ^= 0x08;
    write_file(tmp / "damaged.tar.zst", bytes);
    auto r = curl_put(rx, "eq1", "run-damaged", tmp / "damaged.tar.zst");
    CHECK(r.status == 422);
    auto j = nlohmann::json::parse(r.body);
    INFO(r.body);
    CHECK(j["message"].get<std::string>().find("archive member a.bin: zstd") != std::string::npos);
    CHECK_FALSE(fs::exists(rx.store() / "eq1" / "run-damaged.tar.zst"));
}

TEST_CASE("member check: a small upload completes while a huge one is being checked",
          "[receiver][http][member]") {
    // One disk thread: both uploads' writes and member checks share it.
    receiver_fixture rx({.extra_args = {"--disk-threads", "1"}});
    temp_dir tmp;
    make_blob(tmp / "big" / "a.bin", 96u << 20, 8);
    auto big = pack(tmp / "big", tmp / "big.tar.zst", 3);
    auto small = make_run_archive(tmp / "small");
    // The huge upload, paced so that it lasts ~12 s.
    labsync::test::child_process huge(
        {"curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\n", "--limit-rate", "8M", "-T", big.string(),
         "-H", "X-Content-SHA256: " + sha256_of_file(big), "-H",
         std::string("Authorization: Bearer ") + rx.token(), rx.run_url("eq1", "run-huge")});
    // Wait until its body is being received (and checked).
    auto in_flight = [&] {
        auto m = curl(rx.url() + "/metrics", {});
        return m.body.find("\nlabsync_receiver_uploads_in_flight 1\n") != std::string::npos;
    };
    for (int i = 0; i < 500 && !in_flight(); ++i) std::this_thread::sleep_for(20ms);
    REQUIRE(in_flight());
    REQUIRE(huge.running());
    CHECK(curl_put(rx, "eq1", "run-small", small).status == 201);
    CHECK(huge.running());  // the small one did not wait for the huge one
    CHECK(huge.wait_for_line("201", std::chrono::seconds(60)));
    auto done = huge.wait(std::chrono::seconds(10));
    REQUIRE(done);
    CHECK(done->exit_code == 0);
}
