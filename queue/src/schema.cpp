// Schema, migrations and the refusal of files that are not ours. The order in open() matters:
// every check here runs before the first write (WAL switch, migration), so a foreign or damaged
// file is left byte-for-byte as it was.

#include "schema.hpp"

#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string_view>
#include <vector>

namespace labsync::queue::detail {
namespace {

// Forward migrations: step i takes user_version i to i + 1. Append only; never edit a shipped step.
constexpr std::array<std::string_view, 4> migration_steps = {
    // v1: the three tables and the one-live-job-per-run rule.
    R"sql(
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    equipment TEXT NOT NULL,
    run_id TEXT NOT NULL,
    run_path TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'awaiting_verify', 'verified',
        'cleanup_eligible', 'cleaned', 'failed', 'blocked_by_validation')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error_kind TEXT,
    last_error TEXT,
    bytes INTEGER,
    manifest_digest TEXT,
    archive_sha256 TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE UNIQUE INDEX jobs_one_live_per_run ON jobs (equipment, run_id) WHERE state != 'cleaned';
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    at INTEGER NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT ''
);
CREATE TABLE overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    who TEXT NOT NULL,
    why TEXT NOT NULL,
    at INTEGER NOT NULL
);
)sql",
    // v2: indexes for the engine's queries (next due job, jobs by state, a job's history).
    R"sql(
CREATE INDEX jobs_due ON jobs (equipment, state, next_attempt_at, id);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX events_by_job ON events (job_id, id);
CREATE INDEX overrides_by_job ON overrides (job_id, id);
)sql",
    // v3: the digest of the run's whole tree as shipped (directories, symlinks and other entries
    // besides the files of the manifest), so cleanup sees entries added after verification.
    R"sql(
ALTER TABLE jobs ADD COLUMN tree_digest TEXT;
)sql",
    // v4: the stat fingerprint of the run as shipped (verifier/fingerprint.hpp): cleanup compares
    // it instead of re-hashing the run; NULL (older rows, racy runs) means re-hash.
    R"sql(
ALTER TABLE jobs ADD COLUMN fingerprint_digest TEXT;
)sql",
};

int pragma_int(SQLite::Database& db, const char* pragma) {
    SQLite::Statement q(db, std::string("PRAGMA ") + pragma);
    return q.executeStep() ? q.getColumn(0).getInt() : 0;
}

std::string hex32(int v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
    return buf;
}

}  // namespace

int schema_version() noexcept {
    return static_cast<int>(migration_steps.size());
}

store_error check_file_header(const std::filesystem::path& path) {
    std::error_code ec;
    auto status = std::filesystem::symlink_status(path, ec);
    if (ec || status.type() == std::filesystem::file_type::not_found) return {};
    if (status.type() != std::filesystem::file_type::regular) {
        return make_store_error(errc::foreign_database,
                                "job store " + path.string() + ": not a regular file; refusing to use it");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_store_error(errc::cannot_open, "job store " + path.string() + ": cannot read the file");
    }
    std::array<char, 16> header{};
    in.read(header.data(), header.size());
    auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) return {};  // an empty file holds nothing to lose: SQLite treats it as a new database
    constexpr std::string_view magic("SQLite format 3\0", 16);
    if (got < header.size() || std::string_view(header.data(), header.size()) != magic) {
        return make_store_error(errc::foreign_database,
                                "job store " + path.string() +
                                    ": not an SQLite database (no SQLite header); refusing to touch it");
    }
    return {};
}

result<int> check_identity(SQLite::Database& db, const std::filesystem::path& path) {
    const int app_id = pragma_int(db, "application_id");
    const int version = pragma_int(db, "user_version");
    std::vector<std::string> tables;
    {
        SQLite::Statement q(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
        while (q.executeStep()) tables.push_back(q.getColumn(0).getString());
    }
    if (app_id != application_id) {
        // An SQLite file with nothing in it is as good as a new one; anything else is someone else's.
        if (app_id == 0 && version == 0 && tables.empty()) return 0;
        std::string names;
        for (const auto& t : tables) names += (names.empty() ? "" : ", ") + t;
        return make_store_error(errc::foreign_database, "job store " + path.string() +
                                                            ": an SQLite database of another application " +
                                                            "(application_id " + hex32(app_id) +
                                                            ", tables: " + (names.empty() ? "none" : names) +
                                                            "); refusing to touch it");
    }
    if (version > schema_version()) {
        return make_store_error(errc::newer_schema,
                                "job store " + path.string() + ": schema version " + std::to_string(version) +
                                    " is newer than this labsync (" + std::to_string(schema_version()) +
                                    "); upgrade labsync or use another state_dir");
    }
    SQLite::Statement check(db, "PRAGMA quick_check");
    std::string problems;
    while (check.executeStep()) {
        auto line = check.getColumn(0).getString();
        if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
    }
    if (!problems.empty()) {
        return make_store_error(errc::corrupt_database,
                                "job store " + path.string() + ": integrity check failed: " + problems);
    }
    return version;
}

void migrate(SQLite::Database& db, int target) {
    if (target < 0 || target > schema_version()) target = schema_version();
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    // Re-read inside the write lock: another process may have migrated meanwhile.
    int version = pragma_int(db, "user_version");
    if (version >= target) return;  // rolls back the empty transaction
    for (; version < target; ++version)
        db.exec(std::string(migration_steps[static_cast<std::size_t>(version)]));
    db.exec("PRAGMA application_id = " + std::to_string(application_id));
    db.exec("PRAGMA user_version = " + std::to_string(target));
    tx.commit();
}

store_error from_sqlite(const std::exception& e, const std::filesystem::path& path, const std::string& what) {
    auto code = errc::sqlite_error;
    if (const auto* se = dynamic_cast<const SQLite::Exception*>(&e)) {
        int primary = se->getErrorCode() & 0xff;
        if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) code = errc::corrupt_database;
        if (primary == SQLITE_CANTOPEN || primary == SQLITE_PERM || primary == SQLITE_READONLY) {
            code = errc::cannot_open;
        }
        if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) code = errc::store_busy;
        if (primary == SQLITE_FULL) code = errc::store_full;
        if (primary == SQLITE_IOERR) code = errc::store_io;
    }
    return make_store_error(code, "job store " + path.string() + ": " + what + ": " + e.what());
}

}  // namespace labsync::queue::detail
