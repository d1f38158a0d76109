// The doctor's check for runs without their marker; see doctor_checks.hpp.
#include "doctor/doctor_checks.hpp"

#include "labsync/engine/unmarked_run.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace labsync::apps {

namespace fs = std::filesystem;

doctor_check check_unmarked_runs(const engine::equipment_config& eq, const fs::path& db) {
    doctor_check c = make_check("marker", fmt::format("{} ({})", eq.runs_root.string(), eq.name));
    auto store = open_store_to_inspect(db);
    std::vector<engine::unmarked_run> runs;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(eq.runs_root, ec)) {
        if (entry.is_symlink(ec) || !entry.is_directory(ec)) continue;
        if (fs::is_regular_file(fs::symlink_status(entry.path() / eq.marker_name, ec))) continue;
        const auto run = entry.path().filename().string();
        if (store)  // enqueued by API without a marker: not waiting
            if (auto live = store->find_live(eq.name, run); live && *live) continue;
        runs.push_back(
            {eq.name, run, eq.marker_name, engine::find_marker_like(entry.path(), eq.marker_name)});
    }
    if (runs.empty()) {
        c.detail = fmt::format("every run has its marker {}", eq.marker_name);
        return c;
    }
    std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.run_id < b.run_id; });
    for (const auto& r : runs)
        c.detail +=
            fmt::format("{}{}: {}", c.detail.empty() ? "" : "; ", r.run_id, engine::describe_unmarked(r));
    const bool mismatch =
        std::any_of(runs.begin(), runs.end(), [](const auto& r) { return !r.marker_like.empty(); });
    c.ok = !mismatch;
    c.warning = !mismatch;
    c.hint = mismatch ? fmt::format(
                            "the instrument writes another marker name: set marker_name of equipment {} "
                            "to it, or make the instrument write {}",
                            eq.name, eq.marker_name)
                      : fmt::format(
                            "a run ships once its marker {} exists; runs still being written wait "
                            "for it (a run the instrument finished needs it written)",
                            eq.marker_name);
    return c;
}

}  // namespace labsync::apps
