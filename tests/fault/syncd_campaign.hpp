#pragma once
// Shared pieces of the `syncd run` kill campaigns (test_syncd_kill.cpp,
// test_syncd_multipart_kill.cpp, test_receiver_multipart_kill.cpp): runs that appear complete in
// one rename, jobs.db queries with the sqlite3 CLI, the check that a stored archive holds exactly
// what was written, and the receiver's resumable uploads as the store shows them (kill points).

#include "fault_env.hpp"

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace labsync::fault {

using run_files = std::map<std::string, std::string>;  // relative path -> sha256

// The run size of the multi-part kill campaigns: twelve 128 KiB parts.
constexpr std::size_t run_bytes = 1536 * 1024;

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

// One resumable upload as the receiver's store holds it (`.uploads/<id>/state.json` and `data`).
struct upload_entry {
    std::string run;
    std::uint64_t offset = 0;  // acknowledged (fsynced) bytes
    bool complete = false;
    std::int64_t updated = 0;
    bool has_data = false;
    std::uint64_t data_bytes = 0;  // received so far (past `offset` when a part is in flight)
};
using upload_map = std::map<std::string, upload_entry>;

inline upload_entry read_upload(const fs::path& dir) {
    upload_entry u;
    // state.json appears (by rename) just after the directory: absent means created, nothing more.
    std::ifstream in(dir / "state.json", std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_object()) {
        u.run = doc.value("run", "");
        u.offset = doc.value("offset", std::uint64_t{0});
        u.complete = doc.value("complete", false);
        u.updated = doc.value("updated", std::int64_t{0});
    }
    std::error_code ec;
    const auto size = fs::file_size(dir / "data", ec);
    u.has_data = !ec;
    u.data_bytes = ec ? 0 : size;
    return u;
}

// The resumable uploads in the store, by id.
inline upload_map scan_uploads(const fs::path& store) {
    upload_map out;
    std::error_code ec;
    for (const auto& dir : fs::directory_iterator(store / ".uploads", ec))
        out[dir.path().filename().string()] = read_upload(dir.path());
    return out;
}

// Where a kill landed, judged from the uploads before the process started and after the kill.
struct kill_landing {
    enum kind { before_upload, mid_upload, after_completion } where = before_upload;
    std::uint64_t offset = 0;      // mid_upload: acknowledged offset of the cut upload
    std::uint64_t data_bytes = 0;  // mid_upload: bytes it had received
};

// Mid-upload when an upload that is new, or moved since `before`, is incomplete; after completion
// when one completed since `before`; otherwise before any upload of this life.
inline kill_landing landing_of(const upload_map& before, const upload_map& after) {
    kill_landing out;
    for (const auto& [uid, u] : after) {
        const auto was = before.find(uid);
        const bool fresh = was == before.end();
        if (!u.complete &&
            (fresh || was->second.offset != u.offset || was->second.data_bytes != u.data_bytes)) {
            out.where = kill_landing::mid_upload;
            out.offset = std::max(out.offset, u.offset);
            out.data_bytes = std::max(out.data_bytes, u.data_bytes);
        } else if (u.complete && (fresh || !was->second.complete) && out.where != kill_landing::mid_upload) {
            out.where = kill_landing::after_completion;
        }
    }
    return out;
}

// Counts of kill landings, mid-upload ones by quarter of the run's size (acknowledged offset).
struct landing_tally {
    unsigned before = 0, mid = 0, after = 0;
    unsigned quarter[4] = {0, 0, 0, 0};
    unsigned in_flight = 0;  // mid-upload kills with received bytes past the acknowledged offset
    void add(const kill_landing& k, std::uint64_t run_bytes) {
        if (k.where == kill_landing::before_upload) ++before;
        if (k.where == kill_landing::after_completion) ++after;
        if (k.where != kill_landing::mid_upload) return;
        ++mid;
        ++quarter[std::min<std::uint64_t>(3, k.offset * 4 / run_bytes)];
        in_flight += k.data_bytes > k.offset;
    }
    std::string text() const {
        return std::to_string(before) + " before any upload, " + std::to_string(mid) +
               " mid-upload (acknowledged offset in quarters of the run: " + std::to_string(quarter[0]) +
               " / " + std::to_string(quarter[1]) + " / " + std::to_string(quarter[2]) + " / " +
               std::to_string(quarter[3]) + "; " + std::to_string(in_flight) + " with a part in flight), " +
               std::to_string(after) + " after an upload completed";
    }
};

// The kill point of an iteration: the moment an upload that `before` did not show has received
// at least `bytes` (or has completed, when the poll came too late), or, with `bytes` unset, the
// moment an upload that `before` did not show complete has completed (a resumed one included).
// Polls the store every millisecond (the receiver writes `data` as bytes arrive and replaces
// state.json when it acknowledges); nullopt after `timeout`.
inline std::optional<std::string> await_upload_point(const fs::path& store, const upload_map& before,
                                                     std::optional<std::uint64_t> bytes,
                                                     std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        for (const auto& dir : fs::directory_iterator(store / ".uploads", ec)) {
            const auto uid = dir.path().filename().string();
            const auto was = before.find(uid);
            if (was != before.end() && (bytes || was->second.complete)) continue;
            std::error_code size_ec;
            const auto size = fs::file_size(dir.path() / "data", size_ec);
            if (bytes && !size_ec && size >= *bytes) return uid;
            // Complete (its data released): the point aimed at, or one this poll did not see in
            // time (a starved test thread on a loaded machine); the kill lands after completion.
            if (size_ec && read_upload(dir.path()).complete) return uid;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return std::nullopt;
}

// Everything a reader of the store could see that is not a complete archive (or sidecar) of a run
// of `written`. Archives already proven are not extracted again: a final name never changes.
inline std::vector<std::string> store_problems(const receiver& rx,
                                               const std::map<std::string, run_files>& written,
                                               std::set<std::string>& proven, const fs::path& scratch) {
    std::vector<std::string> problems;
    for (const auto& f : visible_files(rx.store())) {
        const std::string prefix = "scope-1/";
        std::string run = f.starts_with(prefix) ? f.substr(prefix.size()) : "";
        bool archive = run.ends_with(".tar.zst");
        if (archive) run.resize(run.size() - 8);
        if (!archive && run.ends_with(".json")) run.resize(run.size() - 5);
        const auto it = written.find(run);
        if (it == written.end() || (!archive && !f.ends_with(".json"))) {
            problems.push_back("unexpected file visible: " + f);
            continue;
        }
        if (!archive || proven.count(run)) continue;
        std::string why;
        if (stored_matches(rx, run, it->second, scratch, why))
            proven.insert(run);
        else
            problems.push_back(f + ": " + why);
    }
    return problems;
}

inline bool verified_in_db(const fs::path& db, const std::string& run) {
    return sqlite(db, "SELECT count(*) FROM events e JOIN jobs j ON j.id = e.job_id WHERE j.run_id = '" +
                          run + "' AND e.to_state = 'verified';") != "0\n";
}

// One archive + sidecar per run of `written`, sorted: the store's visible files when each run is
// stored exactly once.
inline std::vector<std::string> expected_store_files(const std::map<std::string, run_files>& written) {
    std::vector<std::string> out;
    for (const auto& [run, files] : written) {
        out.push_back("scope-1/" + run + ".json");
        out.push_back("scope-1/" + run + ".tar.zst");
    }
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace labsync::fault
