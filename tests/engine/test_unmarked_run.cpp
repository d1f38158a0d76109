// Which files of a run look like its marker under another name (unmarked_run.hpp).
#include "labsync/engine/unmarked_run.hpp"

#include <catch2/catch.hpp>

using labsync::engine::marker_like_names;
using names = std::vector<std::string>;

TEST_CASE("marker_like_names: other case, shape, typos and usual completion markers", "[engine][marker]") {
    CHECK(marker_like_names("RUN_COMPLETE", {"run_complete", "Run-Complete.txt", ".run_complete"}) ==
          names{".run_complete", "Run-Complete.txt", "run_complete"});
    CHECK(marker_like_names("RUN_COMPLETE", {"RUN_COMPLTE", "RUN_COMPELTE"}) ==
          names{"RUN_COMPELTE", "RUN_COMPLTE"});
    CHECK(marker_like_names("RUN_COMPLETE", {"DONE", "finished.flag", "acquisition_complete", "ready"}) ==
          names{"DONE", "acquisition_complete", "finished.flag", "ready"});
}

TEST_CASE("marker_like_names: data files are not marker-like", "[engine][marker]") {
    CHECK(marker_like_names("RUN_COMPLETE", {"img_0001.raw", "meta.json", "notes.txt", "data"}).empty());
    // Short markers tolerate one edit only: "note" is two edits from "done".
    CHECK(marker_like_names("done.marker", {"note.txt", "img.raw"}).empty());
    CHECK(marker_like_names("done.marker", {"dune"}) == names{"dune"});
    CHECK(marker_like_names("RUN_COMPLETE", {}).empty());
}
