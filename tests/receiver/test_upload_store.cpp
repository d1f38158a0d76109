// core/upload_store against real files: acknowledged offsets survive, unacknowledged bytes are
// cut off, one appender at a time, the hash and member check resume by re-reading, completion
// publishes through run_store (or refuses and releases the data), and the expiry sweep.
#include "labsync/receiver/run_store.hpp"
#include "labsync/receiver/upload_store.hpp"
#include "temp_dir.hpp"

#include "labsync/verifier/sha256.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace labsync::receiver;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t t0 = 1'000'000;

std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

upload_state state_for(const std::string& run) {
    upload_state s;
    s.equipment = "eq1";
    s.run = run;
    s.created = s.updated = t0;
    return s;
}

std::unique_ptr<upload_handle> open_resumed(upload_store& store, const std::string& id,
                                            std::int64_t now = t0) {
    upload_access access{};
    std::error_code ec;
    auto h = store.open(id, now, access, ec);
    REQUIRE(h);
    REQUIRE_FALSE(h->resume(store.take_progress(id), [] { return nullptr; }));
    return h;
}

}  // namespace

TEST_CASE("upload store: offsets, cut-off tail, one appender, re-read, completion", "[receiver][upload]") {
    labsync::test::temp_dir tmp;
    std::string error;
    auto runs = run_store::open(tmp / "store", error);
    REQUIRE(runs);
    upload_store store(runs->root(), std::chrono::hours(1));
    std::error_code ec;
    auto id = store.create(state_for("r1"), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(valid_upload_id(id));
    const fs::path data = runs->root() / ".uploads" / id / "data";
    {
        auto h = open_resumed(store, id);
        REQUIRE_FALSE(h->append(bytes_of("hello ")));
        h->fed(6);
        REQUIRE_FALSE(h->checkpoint(t0 + 1));
        REQUIRE_FALSE(h->append(bytes_of("garbage")));  // written, never acknowledged (a crash)
        // A second appender while this one holds the upload: busy.
        upload_access access{};
        CHECK_FALSE(store.open(id, t0, access, ec));
        CHECK(access == upload_access::busy);
    }
    upload_access access{};
    auto peeked = store.peek(id, t0 + 2, access, ec);
    REQUIRE(peeked);
    CHECK(peeked->offset == 6);
    CHECK(peeked->updated == t0 + 1);
    CHECK(fs::file_size(data) == 13);
    {
        // No progress in memory (as after a crash): re-read the acknowledged 6 bytes, cut the rest.
        auto h = open_resumed(store, id);
        CHECK(h->rescanned() == 6);
        CHECK(fs::file_size(data) == 6);
        REQUIRE_FALSE(h->append(bytes_of("world")));
        h->fed(5);
        REQUIRE_FALSE(h->checkpoint(t0 + 3));
        auto sha = labsync::verifier::to_hex(labsync::verifier::sha256::of("hello world"));
        auto done = h->complete(*runs, stored_run{}, sha, t0 + 4);
        CHECK(done.status == 201);
        CHECK(done.stored.sha256 == sha);
        CHECK(h->state().complete);
    }
    CHECK_FALSE(fs::exists(data));  // released
    std::ifstream in(runs->root() / "eq1" / "r1.tar.zst");
    std::string stored((std::istreambuf_iterator<char>(in)), {});
    CHECK(stored == "hello world");
    CHECK(fs::is_empty(runs->root() / ".tmp"));
}

TEST_CASE("upload store: progress kept between parts is reused, a digest mismatch publishes nothing",
          "[receiver][upload]") {
    labsync::test::temp_dir tmp;
    std::string error;
    auto runs = run_store::open(tmp / "store", error);
    REQUIRE(runs);
    upload_store store(runs->root(), std::chrono::hours(1));
    std::error_code ec;
    auto id = store.create(state_for("r2"), ec);
    {
        auto h = open_resumed(store, id);
        REQUIRE_FALSE(h->append(bytes_of("abc")));
        h->fed(3);
        REQUIRE_FALSE(h->checkpoint(t0));
        store.keep_progress(id, h->release_progress());
    }
    auto h = open_resumed(store, id);
    CHECK(h->rescanned() == 0);  // the kept progress covered the offset
    auto done = h->complete(*runs, stored_run{}, std::string(64, '0'), t0);
    CHECK(done.status == 422);
    CHECK(done.error == "sha256_mismatch");
    CHECK_FALSE(fs::exists(runs->root() / "eq1" / "r2.tar.zst"));
    CHECK_FALSE(fs::exists(runs->root() / ".uploads" / id / "data"));
}

TEST_CASE("upload store: the sweep removes expired uploads not in use and counts the abandoned",
          "[receiver][upload]") {
    labsync::test::temp_dir tmp;
    std::string error;
    auto runs = run_store::open(tmp / "store", error);
    REQUIRE(runs);
    upload_store store(runs->root(), std::chrono::seconds(60));
    std::error_code ec;
    auto idle = store.create(state_for("a"), ec);
    auto busy = store.create(state_for("b"), ec);
    auto fresh_state = state_for("c");
    fresh_state.updated = t0 + 100;
    auto fresh = store.create(fresh_state, ec);
    upload_access access{};
    auto held = store.open(busy, t0, access, ec);
    REQUIRE(held);
    CHECK(store.sweep(t0 + 59) == 0);
    CHECK(store.sweep(t0 + 60) == 1);  // `idle`; `busy` is in use, `fresh` is not due
    CHECK_FALSE(fs::exists(runs->root() / ".uploads" / idle));
    CHECK(fs::exists(runs->root() / ".uploads" / busy));
    CHECK(fs::exists(runs->root() / ".uploads" / fresh));
    held.reset();
    CHECK(store.sweep(t0 + 60) == 1);
    // Found expired at access: removed, reported as expired.
    CHECK_FALSE(store.open(fresh, t0 + 160, access, ec));
    CHECK(access == upload_access::expired);
    CHECK_FALSE(fs::exists(runs->root() / ".uploads" / fresh));
}
