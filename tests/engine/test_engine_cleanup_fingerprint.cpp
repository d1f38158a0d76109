// The cleanup interlock by stat fingerprint, end to end in the engine (real run directories, real
// store, fake remote): an unchanged run is cleaned without reading a byte of it; a changed
// fingerprint falls back to the full re-hash, which cleans a touched but identical run and keeps
// a changed one; cleanup_rehash always re-hashes.
#include "cleanup_fixture.hpp"
#include "settled_run.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>

using namespace labsync;
using namespace std::chrono_literals;
using queue::job_state;
using test::engine_runner;
namespace fs = std::filesystem;

namespace {

// Counts the manifest passes and the files they open (the injectable build_manifest).
struct counting_builder {
    std::atomic<int> builds{0};
    std::atomic<int> files_opened{0};

    void install(engine::engine_deps& deps) {
        deps.build_manifest = [this](const fs::path& run, const verifier::build_options& o) {
            ++builds;
            auto options = o;
            options.before_open = [this](std::string_view) { ++files_opened; };
            return verifier::build_manifest(run, options);
        };
    }
};

struct shipped {
    std::unique_ptr<engine_runner> engine;
    fs::path run;
    std::int64_t job_id = 0;
};

// Ships run `name` (settled first, so its fingerprint is exact and recorded) to `verified`.
shipped ship(test::cleanup_fixture& f, counting_builder& counter, const std::string& name,
             std::function<void(engine::engine_config&)> tune = {}) {
    auto config = f.config(std::chrono::hours(1));
    if (tune) tune(config);
    auto deps = f.deps();
    counter.install(deps);
    auto r = std::make_unique<engine_runner>(std::move(config), std::move(deps));
    REQUIRE_FALSE(r->open());
    r->start();
    const auto run = f.make_run(name);
    test::write_file(run / "data/b.bin", std::string(4096, 'b'));
    test::wait_until_fingerprint_exact(run);
    auto res = (*r)->enqueue(run);
    auto verified = r->observer.wait_for(res.job_id, job_state::verified);
    REQUIRE(verified);
    REQUIRE(counter.builds == 1);
    return {std::move(r), run, res.job_id};
}

void clean_now(test::cleanup_fixture& f, shipped& s) {
    f.clock->advance(std::chrono::hours(2));
    (*s.engine)->request_cleanup();
}

struct stat lstat_of(const fs::path& path) {
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    return st;
}

}  // namespace

TEST_CASE("cleanup: an unchanged run is cleaned on its stat fingerprint, no file content read",
          "[engine][cleanup][fingerprint]") {
    test::cleanup_fixture f;
    counting_builder counter;
    auto s = ship(f, counter, "fp-same");
    const auto recorded = (*s.engine)->status(s.run);
    REQUIRE(recorded);
    REQUIRE(recorded->fingerprint_digest);
    CHECK(recorded->fingerprint_digest->size() == 64);  // hex sha256: an exact fingerprint was recorded
    const int opened_by_ship = counter.files_opened;
    CHECK(opened_by_ship == 3);  // data/a.bin, data/b.bin, done.marker
    clean_now(f, s);
    REQUIRE(s.engine->observer.wait_for(s.job_id, job_state::cleaned));
    CHECK_FALSE(fs::exists(s.run));
    CHECK(counter.builds == 1);                     // no manifest pass at cleanup
    CHECK(counter.files_opened == opened_by_ship);  // and no file opened for it
    CHECK_FALSE(f.wait_log("re-hashing the run", 0ms));
}

TEST_CASE("cleanup: a touched but identical run fails the fingerprint, is re-hashed and cleaned",
          "[engine][cleanup][fingerprint]") {
    test::cleanup_fixture f;
    counting_builder counter;
    auto s = ship(f, counter, "fp-touch");
    fs::last_write_time(s.run / "data/b.bin", fs::file_time_type::clock::now());  // touch
    clean_now(f, s);
    REQUIRE(s.engine->observer.wait_for(s.job_id, job_state::cleaned));
    CHECK(
        f.wait_log("seq-2/fp-touch: cleanup: its stat fingerprint changed since it was shipped; "
                   "re-hashing the run"));
    CHECK(counter.builds == 2);  // ship + the fallback re-hash
    CHECK_FALSE(fs::exists(s.run));
}

TEST_CASE("cleanup: content rewritten with the same size and mtime is seen and the run kept",
          "[engine][cleanup][fingerprint]") {
    test::cleanup_fixture f;
    counting_builder counter;
    auto s = ship(f, counter, "fp-rewrite");
    const auto path = s.run / "data/b.bin";
    const auto before = lstat_of(path);
    {
        std::fstream out(path, std::ios::in | std::ios::out | std::ios::binary);
        out.seekp(2000);
        out.put('X');
    }
    const timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0);
    const auto after = lstat_of(path);
    REQUIRE(after.st_size == before.st_size);
    REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    clean_now(f, s);
    auto j = s.engine->observer.wait_for(s.job_id, job_state::failed);
    REQUIRE(j);
    CHECK(j->last_error_kind == "local_changed");
    CHECK(counter.builds == 2);
    CHECK(fs::exists(path));
    CHECK(s.engine->observer.entries(s.job_id, job_state::cleaned) == 0);
}

TEST_CASE("cleanup: cleanup_rehash re-hashes the whole run even when its fingerprint holds",
          "[engine][cleanup][fingerprint]") {
    test::cleanup_fixture f;
    counting_builder counter;
    std::string name;
    std::function<void(engine::engine_config&)> tune;
    SECTION("per equipment") {
        name = "fp-rehash-eq";
        tune = [](engine::engine_config& c) { c.equipment[0].cleanup_rehash = true; };
    }
    SECTION("global") {
        name = "fp-rehash-global";
        tune = [](engine::engine_config& c) { c.cleanup_rehash = true; };
    }
    auto s = ship(f, counter, name, tune);
    const int opened_by_ship = counter.files_opened;
    clean_now(f, s);
    REQUIRE(s.engine->observer.wait_for(s.job_id, job_state::cleaned));
    CHECK(counter.builds == 2);
    CHECK(counter.files_opened == 2 * opened_by_ship);  // every file read again
}

TEST_CASE("cleanup: an equipment's cleanup_rehash = false overrides the global true",
          "[engine][cleanup][fingerprint]") {
    test::cleanup_fixture f;
    counting_builder counter;
    auto s = ship(f, counter, "fp-override", [](engine::engine_config& c) {
        c.cleanup_rehash = true;
        c.equipment[0].cleanup_rehash = false;
    });
    clean_now(f, s);
    REQUIRE(s.engine->observer.wait_for(s.job_id, job_state::cleaned));
    CHECK(counter.builds == 1);
}
