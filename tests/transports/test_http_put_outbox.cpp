// http_put's outbox layout against a real directory: release and the orphan sweep (moved here from
// the engine's run_files test when the outbox became the driver's business).
#include "labsync/transports/http_put_outbox.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

using namespace labsync::transports;
namespace fs = std::filesystem;
using labsync::test::temp_dir;
using labsync::test::write_file;

TEST_CASE("http_put outbox: orphan outbox archives are swept", "[outbox]") {
    temp_dir dir;
    write_file(dir / "outbox/eq/live.tar.zst", "a");
    write_file(dir / "outbox/eq/dead.tar.zst", "b");
    write_file(dir / "outbox/eq/dead2.tar.zst.partial", "c");
    write_file(dir / "outbox/eq/dead3.tar.zst.upload", "e");
    write_file(dir / "outbox/eq/live.tar.zst.upload", "f");
    write_file(dir / "outbox/eq/notes.txt", "d");
    auto removed = sweep_outbox(dir / "outbox", [](const std::string& eq, const std::string& run) {
        return eq == "eq" && run == "live";
    });
    CHECK(removed.size() == 3);
    CHECK(fs::exists(dir / "outbox/eq/live.tar.zst"));
    CHECK(fs::exists(dir / "outbox/eq/live.tar.zst.upload"));
    CHECK_FALSE(fs::exists(dir / "outbox/eq/dead3.tar.zst.upload"));
    CHECK(fs::exists(dir / "outbox/eq/notes.txt"));
    CHECK_FALSE(fs::exists(dir / "outbox/eq/dead.tar.zst"));
}

TEST_CASE("http_put outbox: releasing a run removes its archive, a stale .partial and its .upload",
          "[outbox]") {
    temp_dir dir;
    write_file(dir / "outbox/eq/run-1.tar.zst", "a");
    write_file(dir / "outbox/eq/run-1.tar.zst.upload", "u");
    write_file(dir / "outbox/eq/run-1.tar.zst.partial", "b");
    write_file(dir / "outbox/eq/run-2.tar.zst", "c");
    CHECK(outbox_archive_path(dir / "outbox", "eq", "run-1") == dir / "outbox/eq/run-1.tar.zst");
    CHECK(remove_outbox_archive(dir / "outbox", "eq", "run-1").empty());
    CHECK_FALSE(fs::exists(dir / "outbox/eq/run-1.tar.zst"));
    CHECK_FALSE(fs::exists(dir / "outbox/eq/run-1.tar.zst.partial"));
    CHECK_FALSE(fs::exists(dir / "outbox/eq/run-1.tar.zst.upload"));
    CHECK(upload_sidecar_path(dir / "outbox/eq/run-1.tar.zst") == dir / "outbox/eq/run-1.tar.zst.upload");
    CHECK(fs::exists(dir / "outbox/eq/run-2.tar.zst"));
    CHECK(remove_outbox_archive(dir / "outbox", "eq", "run-1").empty());       // nothing left: done
    CHECK_FALSE(remove_outbox_archive(dir / "outbox", "eq", "../x").empty());  // bad id: refused
}
