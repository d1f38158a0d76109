#pragma once
// Shared pieces of the `syncd run` kill campaigns (test_syncd_kill.cpp,
// test_syncd_multipart_kill.cpp): runs that appear complete in one rename, jobs.db queries with
// the sqlite3 CLI, and the check that a stored archive holds exactly what was written.

#include "fault_env.hpp"

#include <map>
#include <string>

namespace labsync::fault {

using run_files = std::map<std::string, std::string>;  // relative path -> sha256

inline run_files make_recorded_run(const fs::path& root, const std::string& run, unsigned seed,
                                   std::size_t bytes = 300 * 1024) {
    fs::path staging = root.parent_path() / ".staging" / run;
    make_run(staging, bytes, seed);
    run_files files;
    for (auto& e : fs::recursive_directory_iterator(staging))
        if (e.is_regular_file()) files[fs::relative(e.path(), staging).string()] = file_sha256(e.path());
    test::write_file(staging / "done.marker", "");
    // Appears complete, marker included, in one rename (the acquisition software's last step).
    fs::rename(staging, root / run);
    return files;
}

inline std::string sqlite(const fs::path& db, const std::string& sql) {
    auto r = test::run_process({"sqlite3", "-readonly", db.string(), sql});
    return r.out;
}

// The stored archive of `run` holds exactly `expected` (plus the embedded manifest).
inline bool stored_matches(const receiver& rx, const std::string& run, const run_files& expected,
                           const fs::path& scratch, std::string& why) {
    auto archive = rx.archive("scope-1", run);
    auto sidecar = rx.store() / "scope-1" / (run + ".json");
    if (!fs::exists(archive)) return why = "no stored archive", false;
    std::string sha = file_sha256(archive);
    if (fs::exists(sidecar)) {
        auto doc = nlohmann::json::parse(test::read_file(sidecar), nullptr, false);
        if (!doc.is_object() || doc.value("sha256", "") != sha)
            return why = "sidecar sha differs from the bytes", false;
    }
    fs::path out = scratch / run;
    fs::remove_all(out);
    fs::create_directories(out);
    auto r = test::run_process({"tar", "--zstd", "-xf", archive.string(), "-C", out.string()});
    if (r.exit_code != 0) return why = "tar -x failed: " + r.err, false;
    run_files got;
    for (auto& e : fs::recursive_directory_iterator(out))
        if (e.is_regular_file()) {
            auto rel = fs::relative(e.path(), out).string();
            if (rel.rfind(".labsync/", 0) == 0 || rel == "done.marker") continue;
            got[rel] = file_sha256(e.path());
        }
    fs::remove_all(out);
    if (got != expected) return why = "archive members differ from the run as written", false;
    return true;
}

inline bool local_complete(const fs::path& run_dir, const run_files& files) {
    for (const auto& [rel, sha] : files)
        if (!fs::exists(run_dir / rel)) return false;
    return true;
}

}  // namespace labsync::fault
