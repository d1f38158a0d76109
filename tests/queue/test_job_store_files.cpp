// The job store against files that are not (or no longer) what it expects: foreign files and
// other applications' databases are refused byte-for-byte unchanged, newer schemas are refused,
// corruption is reported, old schemas are migrated forward.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "labsync/queue/job_store.hpp"
#include "schema.hpp"
#include "temp_dir.hpp"

using namespace labsync::queue;
using labsync::test::read_file;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

store_options no_replay() {
    store_options o;
    o.replay = false;
    return o;
}

// Everything next to the store (the -wal / -shm files must not appear either).
std::size_t files_in(const std::filesystem::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
    return n;
}

}  // namespace

TEST_CASE("files: a new store is created with our identity, WAL and the current schema", "[store][files]") {
    temp_dir dir;
    auto store = job_store::open(dir / "jobs.db");
    INFO(store.error().message);
    REQUIRE(store);
    CHECK(store->replayed().from_schema_version == 0);
    CHECK(store->replayed().schema_version == job_store::current_schema_version());
    REQUIRE(store->create_job("e", "r", "/p", job_state::queued, ""));

    SQLite::Database db((dir / "jobs.db").string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("PRAGMA application_id").getInt() == detail::application_id);
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == job_store::current_schema_version());
    CHECK(db.execAndGet("PRAGMA journal_mode").getString() == "wal");
}

TEST_CASE("files: a text file is refused and left unchanged", "[store][files]") {
    temp_dir dir;
    const std::string content = "this is somebody's notes file, not a database\n";
    write_file(dir / "jobs.db", content);
    auto store = job_store::open(dir / "jobs.db");
    REQUIRE_FALSE(store);
    CHECK(store.code() == errc::foreign_database);
    CHECK_THAT(store.error().message,
               Catch::Contains((dir / "jobs.db").string()) && Catch::Contains("not an SQLite"));
    CHECK(read_file(dir / "jobs.db") == content);
    CHECK(files_in(dir.path()) == 1);

    // Shorter than the SQLite header, too.
    write_file(dir / "short.db", "SQLite");
    CHECK(job_store::open(dir / "short.db").code() == errc::foreign_database);
    CHECK(read_file(dir / "short.db") == "SQLite");

    // A directory where the file should be.
    std::filesystem::create_directory(dir / "adir");
    CHECK(job_store::open(dir / "adir").code() == errc::foreign_database);
}

TEST_CASE("files: another application's SQLite database is refused and left unchanged", "[store][files]") {
    temp_dir dir;
    const auto path = dir / "other.db";
    {
        SQLite::Database other(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        other.exec("CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT)");
        other.exec("INSERT INTO jobs (name) VALUES ('precious')");
    }
    const auto before = read_file(path);
    for (bool replay : {true, false}) {
        store_options options;
        options.replay = replay;
        auto store = job_store::open(path, options);
        REQUIRE_FALSE(store);
        CHECK(store.code() == errc::foreign_database);
        CHECK_THAT(store.error().message, Catch::Contains("another application") && Catch::Contains("jobs"));
    }
    CHECK(read_file(path) == before);
    CHECK(files_in(dir.path()) == 1);

    // Same with an application_id that is not ours, even without tables.
    const auto tagged = dir / "tagged.db";
    {
        SQLite::Database other(tagged.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        other.exec("PRAGMA application_id = 1234");
    }
    const auto tagged_before = read_file(tagged);
    CHECK(job_store::open(tagged).code() == errc::foreign_database);
    CHECK(read_file(tagged) == tagged_before);
}

TEST_CASE("files: an empty file or empty SQLite database becomes a store", "[store][files]") {
    temp_dir dir;
    write_file(dir / "empty.db", "");
    auto a = job_store::open(dir / "empty.db");
    INFO(a.error().message);
    CHECK(a);
    {
        SQLite::Database blank((dir / "blank.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        blank.exec("PRAGMA user_version = 0");
        blank.exec("VACUUM");  // forces the header onto disk
    }
    auto b = job_store::open(dir / "blank.db");
    INFO(b.error().message);
    CHECK(b);
}

TEST_CASE("files: a store written by a newer labsync is refused and left unchanged", "[store][files]") {
    temp_dir dir;
    const auto path = dir / "jobs.db";
    REQUIRE(job_store::open(path));
    {
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
        db.exec("PRAGMA user_version = " + std::to_string(job_store::current_schema_version() + 1));
    }
    const auto before = read_file(path);
    auto store = job_store::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.code() == errc::newer_schema);
    CHECK_THAT(store.error().message, Catch::Contains("newer"));
    CHECK(read_file(path) == before);
}

TEST_CASE("files: a damaged store is refused as corrupt", "[store][files]") {
    temp_dir dir;
    const auto path = dir / "jobs.db";
    {
        auto store = job_store::open(path);
        REQUIRE(store);
        for (int i = 0; i < 200; ++i) {
            REQUIRE(store->create_job("e", "run-" + std::to_string(i), std::string(200, 'p'),
                                      job_state::queued, std::string(100, 'm')));
        }
    }  // closing the last connection checkpoints the WAL into the main file
    REQUIRE(!std::filesystem::exists(dir / "jobs.db-wal"));
    auto bytes = read_file(path);
    REQUIRE(bytes.size() > 8 * 4096);
    // Scribble over pages 3..5 (table and index b-tree pages), keeping the header intact.
    for (std::size_t i = 2 * 4096; i < 5 * 4096; ++i) bytes[i] = static_cast<char>(0xA5 ^ (i & 0xff));
    {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    auto store = job_store::open(path);
    REQUIRE_FALSE(store);
    CHECK(store.code() == errc::corrupt_database);
    CHECK_THAT(store.error().message, Catch::Contains(path.string()));
    CHECK(read_file(path) == bytes);
}

TEST_CASE("files: a v1 store is migrated forward and keeps its jobs", "[store][files]") {
    temp_dir dir;
    const auto path = dir / "jobs.db";
    {
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        detail::migrate(db, 1);
        db.exec(
            "INSERT INTO jobs (equipment, run_id, run_path, state, attempts, created_at, updated_at) "
            "VALUES ('e', 'old-run', '/p', 'running', 2, 1000, 2000)");
        db.exec("INSERT INTO events (job_id, at, to_state, kind) VALUES (1, 1000, 'queued', 'created')");
        REQUIRE(db.execAndGet("PRAGMA user_version").getInt() == 1);
    }
    auto store = job_store::open(path);
    INFO(store.error().message);
    REQUIRE(store);
    CHECK(store->replayed().from_schema_version == 1);
    CHECK(store->replayed().schema_version == job_store::current_schema_version());
    CHECK(store->replayed().requeued == std::vector<std::int64_t>{1});
    auto j = store->find(1);
    REQUIRE(j);
    CHECK(j->run_id == "old-run");
    CHECK(j->attempts == 2);
    CHECK(j->state == job_state::queued);

    SQLite::Database db(path.string(), SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("PRAGMA user_version").getInt() == job_store::current_schema_version());
    CHECK(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'jobs_due'")
              .getInt() == 1);
}

TEST_CASE("files: a missing directory and a row this code cannot read give clear errors", "[store][files]") {
    temp_dir dir;
    auto missing = job_store::open(dir / "no" / "such" / "jobs.db");
    CHECK(missing.code() == errc::cannot_open);
    CHECK_THAT(missing.error().message, Catch::Contains("does not exist"));

    const auto path = dir / "jobs.db";
    std::int64_t id = 0;
    {
        auto store = job_store::open(path);
        REQUIRE(store);
        id = store->create_job("e", "r", "/p", job_state::queued, "")->id;
    }
    {
        // A hand edit that slipped past the CHECK constraint (it cannot: so drop the constraint's
        // effect by writing the event table, which has none).
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE);
        db.exec("UPDATE events SET to_state = 'teleported'");
    }
    auto store = job_store::open(path, no_replay());
    REQUIRE(store);
    auto events = store->events(id);
    REQUIRE_FALSE(events);
    CHECK(events.code() == errc::corrupt_database);
    CHECK_THAT(events.error().message, Catch::Contains("teleported"));
}

TEST_CASE("files: a write lock held by another connection is store_busy, nothing written, retry works",
          "[store][files]") {
    temp_dir dir;
    store_options o;
    o.busy_timeout = std::chrono::milliseconds(100);
    auto opened = job_store::open(dir / "jobs.db", o);
    REQUIRE(opened.has_value());
    auto store = std::move(opened).value();
    auto created = store.create_job("eq1", "run-1", "/data/eq1/run-1", job_state::queued, "test");
    REQUIRE(created.has_value());
    const auto id = created->id;

    SQLite::Database other((dir / "jobs.db").string(), SQLite::OPEN_READWRITE);
    other.exec("BEGIN EXCLUSIVE");
    transition_details d;
    d.message = "start";
    auto err = store.transition(id, job_state::running, d);
    CHECK(err.code == errc::store_busy);
    CHECK(err.message.find("jobs.db") != std::string::npos);
    other.exec("ROLLBACK");
    CHECK(store.find(id)->state == job_state::queued);  // the refused write left no trace
    CHECK_FALSE(store.transition(id, job_state::running, d));
    CHECK(store.find(id)->state == job_state::running);
}

TEST_CASE("files: a v3 store gains fingerprint_digest, old rows have none, a transition records it",
          "[store][files]") {
    temp_dir dir;
    const auto path = dir / "jobs.db";
    {
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        detail::migrate(db, 3);
        db.exec(
            "INSERT INTO jobs (equipment, run_id, run_path, state, attempts, created_at, updated_at, "
            "manifest_digest, tree_digest) VALUES ('e', 'shipped', '/p', 'awaiting_verify', 1, 1000, 2000, "
            "'md', 'td')");
        db.exec("INSERT INTO events (job_id, at, to_state, kind) VALUES (1, 1000, 'queued', 'created')");
    }
    auto store = job_store::open(path, no_replay());
    INFO(store.error().message);
    REQUIRE(store);
    CHECK(store->replayed().from_schema_version == 3);
    auto old = store->find(1);
    REQUIRE(old);
    CHECK(old->tree_digest == "td");
    CHECK_FALSE(old->fingerprint_digest);  // shipped before v4: cleanup re-hashes it

    transition_details d;
    d.message = "verified";
    d.fingerprint_digest = "fp";
    REQUIRE_FALSE(store->transition(1, job_state::verified, d));
    CHECK(store->find(1)->fingerprint_digest == "fp");
    transition_details keep;
    keep.message = "eligible";
    REQUIRE_FALSE(store->transition(1, job_state::cleanup_eligible, keep));
    CHECK(store->find(1)->fingerprint_digest == "fp");  // left empty: kept
    CHECK(store->find(1)->manifest_digest == "md");
}
