#pragma once
// A run directory the watcher sees that has no marker yet (engine::runs_without_marker(), shown by
// `syncd status` and `syncd doctor`). A run being written has no marker, and that is normal; a run
// that holds a marker-like file under another name ("DONE", "run_complete.txt" where the
// equipment expects "RUN_COMPLETE") waits forever: the instrument and the configuration disagree.
// marker_like names those files so that the operator sees the mismatch.

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace labsync::engine {

struct unmarked_run {
    std::string equipment;
    std::string run_id;
    std::string expected_marker;           // the equipment's marker_name
    std::vector<std::string> marker_like;  // top-level entries that look like a marker, sorted
};

// The names among `names` (a run's top-level entries) that look like `marker`: the same name in
// another case or shape (RUN_COMPLETE, run-complete.txt, .run_complete), a near typo (two edits),
// or a usual completion marker (DONE, finished, ready, *complete*). Pure.
std::vector<std::string> marker_like_names(std::string_view marker, const std::vector<std::string>& names);

// Lists run_dir's top-level entries and returns marker_like_names() of them (empty when the
// directory cannot be read). Blocking: call it on the CPU pool or outside the engine.
std::vector<std::string> find_marker_like(const std::filesystem::path& run_dir, std::string_view marker);

// "no marker RUN_COMPLETE yet" or "no marker RUN_COMPLETE; found DONE (a different marker name?)".
std::string describe_unmarked(const unmarked_run& run);

}  // namespace labsync::engine
