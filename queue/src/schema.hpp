#pragma once
// The on-disk format of the job store: identification (application_id + user_version), the
// forward migration steps, and the checks that refuse foreign, corrupt or newer files.

#include <SQLiteCpp/Database.h>

#include <filesystem>
#include <string>

#include "labsync/queue/store_error.hpp"

namespace labsync::queue::detail {

// PRAGMA application_id of every labsync job store: "LSYN".
inline constexpr int application_id = 0x4C53594E;

// Number of migration steps this code knows; a store's user_version is the steps applied.
int schema_version() noexcept;

// Looks at an existing file before SQLite touches it: empty or missing is fine (a new store);
// anything that does not start with the SQLite header is foreign.
store_error check_file_header(const std::filesystem::path& path);

// With the database open but nothing written: refuses another application's database, a newer
// schema and a file failing PRAGMA quick_check. Returns the user_version found (0 = new).
result<int> check_identity(SQLite::Database& db, const std::filesystem::path& path);

// Applies the missing steps (up to `target`, default all) in one BEGIN IMMEDIATE transaction
// and stamps application_id + user_version. Tests use `target` to build an old store.
void migrate(SQLite::Database& db, int target = -1);

// Wraps a SQLite exception as a store_error naming the store, the operation and SQLite's text.
store_error from_sqlite(const std::exception& e, const std::filesystem::path& path, const std::string& what);

}  // namespace labsync::queue::detail
