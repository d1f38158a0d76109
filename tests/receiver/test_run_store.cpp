// The store against real files: temp files, atomic publish, sidecars, repair, concurrency.
#include "labsync/receiver/run_store.hpp"
#include "labsync/receiver/verify_answer.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <thread>

using namespace labsync::receiver;
using labsync::test::read_file;
using labsync::test::temp_dir;
using labsync::test::write_file;
namespace fs = std::filesystem;

namespace {

run_store open_store(const fs::path& root) {
    std::string error;
    auto s = run_store::open(root, error);
    INFO(error);
    REQUIRE(s);
    return std::move(*s);
}

std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

publish_outcome upload(const run_store& store, const std::string& run, const std::string& content,
                       stored_run& existing) {
    std::error_code ec;
    auto f = store.begin_upload(ec);
    REQUIRE(f);
    REQUIRE_FALSE(f->reserve(content.size()));
    REQUIRE_FALSE(f->append(bytes_of(content)));
    stored_run meta;
    meta.sha256 = f->finish_hash();
    meta.bytes = f->bytes();
    meta.stored_at = rfc3339_now();
    meta.client = "test";
    auto out = store.publish(*f, "eq1", run, meta, existing, ec);
    REQUIRE_FALSE(ec);
    return out;
}

std::size_t files_in(const fs::path& dir) {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
    return n;
}

}  // namespace

TEST_CASE("publish: created, same, divergent, and the sidecar written", "[receiver][store]") {
    temp_dir tmp;
    auto store = open_store(tmp / "store");
    stored_run existing;
    CHECK(upload(store, "r1", "hello", existing) == publish_outcome::created);
    CHECK(read_file(tmp / "store" / "eq1" / "r1.tar.zst") == "hello");
    auto side = parse_sidecar(read_file(tmp / "store" / "eq1" / "r1.json"));
    REQUIRE(side);
    CHECK(side->sha256 == labsync::verifier::to_hex(labsync::verifier::sha256::of("hello")));
    CHECK(side->bytes == 5);
    CHECK(side->client == "test");
    CHECK(upload(store, "r1", "hello", existing) == publish_outcome::same);
    CHECK(upload(store, "r1", "HELLO", existing) == publish_outcome::divergent);
    CHECK(existing.sha256 == side->sha256);
    CHECK(read_file(tmp / "store" / "eq1" / "r1.tar.zst") == "hello");
    CHECK(files_in(tmp / "store") == 2);  // no temp files left
}

namespace {

// Flips one bit of one byte of a stored file in place: same size, same inode, sidecar untouched.
void flip_byte(const fs::path& file, std::size_t offset) {
    auto data = read_file(file);
    REQUIRE(offset < data.size());
    data[offset] = static_cast<char>(data[offset] ^ 0x01);
    write_file(file, data);
}

}  // namespace

TEST_CASE("verify re-hashes the stored bytes: a flipped byte is a mismatch, not the record",
          "[receiver][store]") {
    temp_dir tmp;
    auto store = open_store(tmp / "store");
    const std::string content(3 << 20, 'q');
    stored_run existing;
    REQUIRE(upload(store, "r1", content, existing) == publish_outcome::created);
    const auto sha = labsync::verifier::to_hex(labsync::verifier::sha256::of(content));
    std::error_code ec;
    auto ok = store.verify("eq1", "r1", nullptr, ec);
    REQUIRE_FALSE(ec);
    CHECK(ok.outcome == verify_outcome::match);
    CHECK(ok.actual_sha256 == sha);
    CHECK(ok.recorded.sha256 == sha);

    flip_byte(tmp / "store" / "eq1" / "r1.tar.zst", 1234567);
    REQUIRE(store.lookup("eq1", "r1", ec)->sha256 == sha);  // the record still says all is well
    auto bad = store.verify("eq1", "r1", nullptr, ec);
    REQUIRE_FALSE(ec);
    CHECK(bad.outcome == verify_outcome::mismatch);
    CHECK(bad.recorded.sha256 == sha);
    CHECK(bad.actual_sha256 != sha);
    CHECK(bad.actual_bytes == content.size());

    CHECK(store.verify("eq1", "absent", nullptr, ec).outcome == verify_outcome::absent);
    CHECK_FALSE(ec);
    std::atomic<bool> cancel{true};
    CHECK(store.verify("eq1", "r1", &cancel, ec).outcome == verify_outcome::cancelled);
    // Data without a sidecar (a crash between link and sidecar) is complete by construction.
    write_file(tmp / "store" / "eq1" / "r2.tar.zst", "payload");
    auto repaired = store.verify("eq1", "r2", nullptr, ec);
    CHECK(repaired.outcome == verify_outcome::match);
    CHECK(fs::exists(tmp / "store" / "eq1" / "r2.json"));
}

TEST_CASE("a re-upload over damaged stored bytes replaces them", "[receiver][store]") {
    temp_dir tmp;
    auto store = open_store(tmp / "store");
    stored_run existing;
    REQUIRE(upload(store, "r1", "hello world", existing) == publish_outcome::created);
    flip_byte(tmp / "store" / "eq1" / "r1.tar.zst", 4);
    CHECK(upload(store, "r1", "hello world", existing) == publish_outcome::repaired);
    CHECK(read_file(tmp / "store" / "eq1" / "r1.tar.zst") == "hello world");
    std::error_code ec;
    CHECK(store.verify("eq1", "r1", nullptr, ec).outcome == verify_outcome::match);
    CHECK(upload(store, "r1", "hello world", existing) == publish_outcome::same);
    CHECK(files_in(tmp / "store") == 2);  // no temp files left
}

TEST_CASE("an abandoned upload leaves nothing", "[receiver][store]") {
    temp_dir tmp;
    auto store = open_store(tmp / "store");
    {
        std::error_code ec;
        auto f = store.begin_upload(ec);
        REQUIRE(f);
        REQUIRE_FALSE(f->append(bytes_of(std::string(100000, 'x'))));
    }
    CHECK(files_in(tmp / "store") == 0);
}

TEST_CASE("lookup: missing, present, and sidecar repair", "[receiver][store]") {
    temp_dir tmp;
    auto store = open_store(tmp / "store");
    std::error_code ec;
    CHECK_FALSE(store.lookup("eq1", "r1", ec));
    CHECK_FALSE(ec);
    // Data published but the sidecar never written (a crash between link and sidecar).
    write_file(tmp / "store" / "eq1" / "r2.tar.zst", "payload");
    auto got = store.lookup("eq1", "r2", ec);
    REQUIRE(got);
    CHECK_FALSE(ec);
    CHECK(got->sha256 == labsync::verifier::to_hex(labsync::verifier::sha256::of("payload")));
    CHECK(got->bytes == 7);
    CHECK(fs::exists(tmp / "store" / "eq1" / "r2.json"));
    // A sidecar that disagrees with the data's size is not trusted.
    write_file(tmp / "store" / "eq1" / "r2.json", "{\"sha256\":\"x\",\"bytes\":1}");
    got = store.lookup("eq1", "r2", ec);
    REQUIRE(got);
    CHECK(got->bytes == 7);
    // A sidecar alone is not a stored run.
    write_file(tmp / "store" / "eq1" / "r3.json", "{\"sha256\":\"x\",\"bytes\":1}");
    CHECK_FALSE(store.lookup("eq1", "r3", ec));
}

TEST_CASE("concurrent publishers of one run: exactly one creates", "[receiver][store]") {
    temp_dir tmp;
    auto store = open_store(tmp / "store");
    for (int round = 0; round < 20; ++round) {
        std::string run = "r" + std::to_string(round);
        std::atomic<int> created{0}, same{0}, other{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < 4; ++i) {
            threads.emplace_back([&] {
                std::error_code ec;
                auto f = store.begin_upload(ec);
                f->append(bytes_of("same content"));
                stored_run meta, existing;
                meta.sha256 = f->finish_hash();
                meta.bytes = f->bytes();
                auto o = store.publish(*f, "eq1", run, meta, existing, ec);
                if (ec)
                    ++other;
                else if (o == publish_outcome::created)
                    ++created;
                else if (o == publish_outcome::same)
                    ++same;
                else
                    ++other;
            });
        }
        for (auto& t : threads) t.join();
        CHECK(created == 1);
        CHECK(same == 3);
        CHECK(other == 0);
    }
}

TEST_CASE("open removes temp files of dead processes only", "[receiver][store]") {
    temp_dir tmp;
    write_file(tmp / "store" / ".tmp" / "upload.999999999.1", "stale");
    write_file(tmp / "store" / ".tmp" / ("upload." + std::to_string(::getpid()) + ".1"), "ours");
    auto store = open_store(tmp / "store");
    CHECK_FALSE(fs::exists(tmp / "store" / ".tmp" / "upload.999999999.1"));
    CHECK(fs::exists(tmp / "store" / ".tmp" / ("upload." + std::to_string(::getpid()) + ".1")));
    CHECK(store.free_bytes().value_or(0) > 0);
}

TEST_CASE("verify answer: 200 verified, 409 stored_bytes_mismatch (never 404), 404, 500, 503",
          "[receiver][unit][verify]") {
    verify_report match{verify_outcome::match, {}, std::string(64, 'a'), 10};
    match.recorded.sha256 = std::string(64, 'a');
    match.recorded.bytes = 10;
    match.recorded.stored_at = "2026-12-01T00:00:00Z";
    auto ok = answer_verify(match, {}, "eq1/r1");
    CHECK(ok.status == 200);
    CHECK(ok.counted);
    CHECK_FALSE(ok.mismatch);
    CHECK(ok.log_error.empty());
    auto body = nlohmann::json::parse(ok.body);
    CHECK(body["verified"] == true);
    CHECK(body["sha256"] == std::string(64, 'a'));
    CHECK(body["bytes"] == 10);

    auto damaged = match;
    damaged.outcome = verify_outcome::mismatch;
    damaged.actual_sha256 = std::string(64, 'b');
    auto bad = answer_verify(damaged, {}, "eq1/r1");
    CHECK(bad.status == 409);
    CHECK(bad.counted);
    CHECK(bad.mismatch);
    CHECK(bad.log_error.find("eq1/r1") != std::string::npos);
    auto why = nlohmann::json::parse(bad.body);
    CHECK(why["error"] == "stored_bytes_mismatch");
    CHECK(why["sha256"] == std::string(64, 'a'));
    CHECK(why["actual_sha256"] == std::string(64, 'b'));

    CHECK(answer_verify({verify_outcome::absent, {}, {}, 0}, {}, "eq1/r1").status == 404);
    CHECK_FALSE(answer_verify({verify_outcome::absent, {}, {}, 0}, {}, "eq1/r1").counted);
    CHECK(answer_verify({verify_outcome::cancelled, {}, {}, 0}, {}, "eq1/r1").status == 503);
    auto io = answer_verify(match, std::make_error_code(std::errc::io_error), "eq1/r1");
    CHECK(io.status == 500);
    CHECK_FALSE(io.counted);
    CHECK_FALSE(io.log_error.empty());
}
