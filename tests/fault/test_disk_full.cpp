// Fault campaign: disk full, on the receiver's store and on the sender's outbox, each a small tmpfs
// (the receiver tests' technique; needs root or CAP_SYS_ADMIN, otherwise ctest reports the case
// skipped). Checked: the failure is reported clearly with the kind the retry policy expects,
// nothing partial is left visible (store) or left behind (outbox), the local run is untouched,
// and once space returns the same command delivers the run byte-identical.
#include "fault_env.hpp"

#include "skip.hpp"
#include "small_fs.hpp"

#include <cstdio>
#include <map>

using namespace labsync;
using namespace labsync::fault;

using test::small_fs;

namespace {

std::map<std::string, std::string> tree_shas(const fs::path& root) {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = file_sha256(e.path());
    return out;
}

}  // namespace

TEST_CASE(
    "disk full on the receiver: 507 is a network error, nothing partial, delivered when space returns") {
    test::temp_dir dir;
    small_fs store_fs(dir / "small", "3m");
    if (!store_fs.mounted) test::skip_test(store_fs.why_not);
    make_run(dir / "runs" / "run-big", 4 << 20, 5);
    auto before = tree_shas(dir / "runs" / "run-big");
    receiver rx(store_fs.dir / "store");

    auto first = syncd_put(rx.port(), "scope-1", dir / "runs" / "run-big", dir / "outbox");
    INFO("first: " << first.doc.dump() << " " << first.err);
    CHECK(first.exit_code != 0);
    REQUIRE(first.doc.is_object());
    CHECK(first.doc.value("error_kind", "") == "network");
    CHECK_THAT(first.doc.value("message", ""), Catch::Contains("507"));
    CHECK(visible_files(rx.store()).empty());
    CHECK(tree_shas(dir / "runs" / "run-big") == before);  // the local run is untouched

    REQUIRE(store_fs.grow("64m"));
    auto second = syncd_put(rx.port(), "scope-1", dir / "runs" / "run-big", dir / "outbox");
    INFO("after space returned: " << second.doc.dump() << " " << second.err);
    CHECK(second.exit_code == 0);
    REQUIRE(second.doc.is_object());
    auto stored = rx.archive("scope-1", "run-big");
    REQUIRE(fs::exists(stored));
    CHECK(second.doc.value("remote_sha256", "") == file_sha256(stored));
    CHECK(second.doc.value("shipped_sha256", "") == file_sha256(stored));
    bool ok = first.exit_code != 0 && second.exit_code == 0 && visible_files(rx.store()).size() == 2;
    std::printf(
        "receiver disk full: %d passed, %d failed (checked: 507 -> kind network, nothing visible, local "
        "run untouched, delivered byte-identical after the store grew)\n",
        ok ? 1 : 0, ok ? 0 : 1);
}

TEST_CASE(
    "disk full on the sender's outbox: clear error, no partial archive left, delivered when space returns") {
    test::temp_dir dir;
    small_fs outbox_fs(dir / "outbox", "1m");
    if (!outbox_fs.mounted) test::skip_test(outbox_fs.why_not);
    // 5 MiB: above one upload part (4 MiB), so not a small run (one PUT from memory, no outbox).
    make_run(dir / "runs" / "run-big", 5 << 20, 9);
    auto before = tree_shas(dir / "runs" / "run-big");
    receiver rx(dir / "store");

    // The streamed upload needs no outbox space: a 5 MiB run ships through a 1 MiB outbox.
    auto streamed = syncd_put(rx.port(), "scope-1", dir / "runs" / "run-big", outbox_fs.dir);
    INFO("streamed: " << streamed.doc.dump() << " " << streamed.err);
    CHECK(streamed.exit_code == 0);
    const auto stored_files = visible_files(rx.store());
    // A run the receiver holds already gets one PUT of an outbox archive: that one needs the space.
    auto first = syncd_put(rx.port(), "scope-1", dir / "runs" / "run-big", outbox_fs.dir);
    INFO("first: " << first.doc.dump() << " " << first.err);
    CHECK(first.exit_code != 0);
    std::string said = first.doc.is_object() ? first.doc.value("message", "") : first.err;
    CHECK_THAT(said, Catch::Contains("space", Catch::CaseSensitive::No));
    std::vector<std::string> left;
    for (auto& e : fs::recursive_directory_iterator(outbox_fs.dir))
        if (e.is_regular_file()) left.push_back(e.path().string());
    CHECK(left.empty());  // no .partial archive eats the little space there is
    CHECK(visible_files(rx.store()) == stored_files);
    CHECK(tree_shas(dir / "runs" / "run-big") == before);

    REQUIRE(outbox_fs.grow("64m"));
    auto second = syncd_put(rx.port(), "scope-1", dir / "runs" / "run-big", outbox_fs.dir);
    INFO("after space returned: " << second.doc.dump() << " " << second.err);
    CHECK(second.exit_code == 0);
    auto stored = rx.archive("scope-1", "run-big");
    REQUIRE(fs::exists(stored));
    CHECK(second.doc.value("remote_sha256", "") == file_sha256(stored));
    bool ok = first.exit_code != 0 && left.empty() && second.exit_code == 0;
    std::printf(
        "outbox disk full: %d passed, %d failed (checked: clear no-space error, no .partial left, local run "
        "untouched, delivered byte-identical after the outbox grew); first error: %s\n",
        ok ? 1 : 0, ok ? 0 : 1, said.c_str());
}
