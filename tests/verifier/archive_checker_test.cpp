// Tests of the streaming archive checker: real archives from pack_run() fed in chunks of every
// size, and damaged or hand-crafted archives it must refuse with the right error.
#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/errc.hpp"

#include "archive_test_util.hpp"
#include "checker_outcome.hpp"
#include "temp_dir.hpp"

#include <zstd.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>

using namespace labsync::verifier;
namespace fs = std::filesystem;
using labsync::test::check_bytes_in;
using labsync::test::make_tar;
using labsync::test::manifest_text_of;
using labsync::test::outcome;
using labsync::test::random_bytes;
using labsync::test::raw_member;
using labsync::test::read_file;
using labsync::test::temp_dir;
using labsync::test::write_file;
using labsync::test::zstd_compress;

namespace {

outcome check_bytes_with(const std::string& bytes, std::size_t chunk, archive_check_threads threads) {
    archive_checker checker(true, threads);
    return check_bytes_in(checker, bytes, chunk);
}

// Parallel frames, with room in the budget for decoding ahead.
outcome check_bytes_frames(const std::string& bytes, std::size_t chunk) {
    archive_checker checker(true, parallel_frames{2, std::make_shared<check_budget>(64u << 20)});
    return check_bytes_in(checker, bytes, chunk);
}

// Every check runs on one thread, on two and with parallel frames (the receiver's pipelines):
// the verdicts must agree.
outcome check_bytes(const std::string& bytes, std::size_t chunk) {
    outcome one = check_bytes_with(bytes, chunk, archive_check_threads::one);
    outcome two = check_bytes_with(bytes, chunk, archive_check_threads::two);
    outcome frames = check_bytes_frames(bytes, chunk);
    INFO("one thread: " << one.error.message() << " [" << one.path << "] " << one.reason);
    INFO("two threads: " << two.error.message() << " [" << two.path << "] " << two.reason);
    INFO("parallel frames: " << frames.error.message() << " [" << frames.path << "] " << frames.reason);
    CHECK(one == two);
    CHECK(one == frames);
    return one;
}

// A packed run of a few files, some spanning several decompressed buffers.
std::string packed_run(const temp_dir& dir) {
    write_file(dir / "run" / "a.txt", "alpha\n");
    write_file(dir / "run" / "big.bin", random_bytes(600000, 11));
    write_file(dir / "run" / "sub" / "c.csv", std::string(300000, 'c'));
    write_file(dir / "run" / "sub" / "empty", "");
    auto r = pack_run(dir / "run", dir / "run.tar.zst");
    REQUIRE(r.ok());
    return read_file(dir / "run.tar.zst");
}

}  // namespace

TEST_CASE("checker: a packed run passes in any chunk size, 1 byte included", "[archive][component]") {
    temp_dir dir;
    std::string bytes = packed_run(dir);
    std::string sha = to_hex(sha256::of(bytes));
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{4096}, std::size_t{1} << 20}) {
        INFO("chunk " << chunk);
        auto o = check_bytes(bytes, chunk);
        INFO(o.reason);
        CHECK_FALSE(o.error);
        CHECK(o.sha256 == sha);
        CHECK(o.files == 4);
    }
}

TEST_CASE("checker: a flipped byte in the compressed stream is detected", "[archive][component]") {
    temp_dir dir;
    std::string bytes = packed_run(dir);
    // Positions across the frame: header, inside members, near the end.
    for (std::size_t pos : {std::size_t{20}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 10}) {
        std::string damaged = bytes;
        damaged[pos] = static_cast<char>(damaged[pos] ^ 0x40);
        auto o = check_bytes(damaged, 65536);
        INFO("pos " << pos << ": " << o.reason);
        CHECK(o.error);
        CHECK(o.sha256 == to_hex(sha256::of(damaged)));
    }
}

TEST_CASE("checker: a member that disagrees with the manifest is named", "[archive][unit]") {
    std::vector<raw_member> members{{"a.txt", "alpha\n"}, {"b/c.bin", "charlie"}};
    SECTION("content differs") {
        std::string manifest = manifest_text_of({{"a.txt", "alpha\n"}, {"b/c.bin", "CHARLIE"}});
        auto o = check_bytes(zstd_compress(make_tar(members, manifest)), 13);
        CHECK(o.error == errc::member_mismatch);
        CHECK(o.path == "b/c.bin");
        CHECK(o.reason.find("sha256 differs") != std::string::npos);
    }
    SECTION("member not listed") {
        std::string manifest = manifest_text_of({{"a.txt", "alpha\n"}});
        auto o = check_bytes(zstd_compress(make_tar(members, manifest)), 100);
        CHECK(o.error == errc::member_mismatch);
        CHECK(o.path == "b/c.bin");
    }
    SECTION("listed file missing") {
        std::string manifest = manifest_text_of({{"a.txt", "alpha\n"}, {"b/c.bin", "charlie"}, {"d", "x"}});
        auto o = check_bytes(zstd_compress(make_tar(members, manifest)), 100);
        CHECK(o.error == errc::member_mismatch);
        CHECK(o.path == "d");
    }
    SECTION("duplicate member") {
        auto twice = members;
        twice.push_back({"a.txt", "alpha\n"});
        auto o = check_bytes(zstd_compress(make_tar(twice, manifest_text_of(members))), 100);
        CHECK(o.error == errc::member_mismatch);
        CHECK(o.path == "a.txt");
    }
    SECTION("consistent hand-built archive passes") {
        auto o = check_bytes(zstd_compress(make_tar(members, manifest_text_of(members))), 3);
        CHECK_FALSE(o.error);
        CHECK(o.files == 2);
    }
}

TEST_CASE("checker: a missing or misplaced manifest is refused", "[archive][unit]") {
    std::vector<raw_member> members{{"a.txt", "alpha\n"}};
    auto none = check_bytes(zstd_compress(make_tar(members, std::nullopt)), 512);
    CHECK(none.error == errc::manifest_missing);

    // The manifest followed by another member.
    std::string tar = make_tar({}, manifest_text_of(members));
    tar.resize(tar.size() - 2 * tar_block_size);
    tar += make_tar(members, std::nullopt);
    auto late = check_bytes(zstd_compress(tar), 512);
    CHECK(late.error == errc::manifest_missing);
    CHECK(late.path == "a.txt");

    auto garbage_manifest =
        check_bytes(zstd_compress(make_tar(members, std::string("not a manifest\n"))), 512);
    CHECK(garbage_manifest.error == errc::bad_manifest);
}

TEST_CASE("checker: truncated streams, garbage and trailing bytes are archive_corrupt",
          "[archive][component]") {
    temp_dir dir;
    std::string bytes = packed_run(dir);
    for (std::size_t keep : {std::size_t{0}, std::size_t{5}, bytes.size() / 2, bytes.size() - 1}) {
        INFO("kept " << keep);
        auto o = check_bytes(bytes.substr(0, keep), 1000);
        CHECK(o.error == errc::archive_corrupt);
    }
    CHECK(check_bytes(random_bytes(100000, 5), 4096).error == errc::archive_corrupt);
    CHECK(check_bytes(bytes + "x", 4096).error == errc::archive_corrupt);
    CHECK(check_bytes(bytes + bytes, 4096).error == errc::archive_corrupt);

    // A tar stream cut inside a member's data, compressed as a complete zstd frame.
    std::vector<raw_member> members{{"a", std::string(5000, 'a')}};
    std::string tar = make_tar(members, manifest_text_of(members));
    auto cut = check_bytes(zstd_compress(tar.substr(0, 2000)), 100);
    CHECK(cut.error == errc::archive_corrupt);
    CHECK(cut.path == "a");
    // Non-zero bytes after the end-of-archive marker.
    auto trailing = check_bytes(zstd_compress(tar + "garbage"), 100);
    CHECK(trailing.error == errc::archive_corrupt);
    CHECK(trailing.reason.find("trailing") != std::string::npos);
    // Zero blocking after the marker (as GNU tar pads records) is accepted.
    CHECK_FALSE(check_bytes(zstd_compress(tar + std::string(8192, '\0')), 100).error);
}

TEST_CASE("checker: unsupported headers are refused with a reason", "[archive][unit]") {
    std::vector<raw_member> members{{"a", "x"}};
    std::string tar = make_tar(members, manifest_text_of(members));
    auto with = [&](auto mutate) {
        std::string t = tar;
        mutate(t);
        return check_bytes(zstd_compress(t), 512);
    };
    auto retype = [](char type) {
        return [type](std::string& t) {
            t[156] = type;
            // Recompute the checksum so only the type is wrong.
            std::uint32_t sum = tar_header_checksum(reinterpret_cast<const unsigned char*>(t.data()));
            char buf[8];
            std::snprintf(buf, sizeof buf, "%06o", sum);
            std::memcpy(t.data() + 148, buf, 7);
        };
    };
    for (char type : {'1', '2', '3', '4', '6', 'g', 'L'}) {
        INFO("type " << type);
        auto o = with(retype(type));
        CHECK(o.error == errc::archive_corrupt);
        CHECK_FALSE(o.reason.empty());
    }
    auto bad_sum = with([](std::string& t) { t[0] = 'b'; });
    CHECK(bad_sum.error == errc::archive_corrupt);
    CHECK(bad_sum.reason.find("checksum") != std::string::npos);

    // A path leaving the archive root.
    std::vector<raw_member> escaping{{"../evil", "x"}};
    auto unsafe = check_bytes(zstd_compress(make_tar(escaping, manifest_text_of({{"a", "x"}}))), 512);
    CHECK(unsafe.error == errc::unsafe_path);
}

TEST_CASE("checker: a pax size beyond any real file is refused, not waited for", "[archive][unit]") {
    std::string tar;
    append_tar_header(tar, {"huge", tar_entry_type::regular, 1ull << 60, 0, 0644});
    auto o = check_bytes(zstd_compress(tar), 512);
    CHECK(o.error == errc::archive_corrupt);
    CHECK(o.reason.find("absurd") != std::string::npos);
}

TEST_CASE("check_archive_file: an unreadable path is an I/O error naming the file", "[archive][component]") {
    temp_dir dir;
    auto r = check_archive_file(dir / "missing.tar.zst");
    CHECK(r.error == std::errc::no_such_file_or_directory);
    CHECK(r.error_path.find("missing.tar.zst") != std::string::npos);
}

TEST_CASE("checker: two threads give exactly the verdicts of one, valid or damaged, any chunk size",
          "[archive][component]") {
    temp_dir dir;
    // Big enough that decoding runs far ahead of the tar walk (many more than 4 decoded buffers).
    write_file(dir / "run" / "a.bin", random_bytes(3'000'000, 21));
    write_file(dir / "run" / "b.csv", std::string(2'000'000, 'b'));
    write_file(dir / "run" / "c.bin", random_bytes(1'500'000, 22));
    REQUIRE(pack_run(dir / "run", dir / "run.tar.zst").ok());
    const std::string bytes = read_file(dir / "run.tar.zst");

    std::vector<std::pair<std::string, std::string>> cases{{"valid", bytes}};
    for (std::size_t pos : {std::size_t{30}, bytes.size() / 4, bytes.size() / 2, bytes.size() - 20}) {
        std::string damaged = bytes;
        damaged[pos] = static_cast<char>(damaged[pos] ^ 0x10);
        cases.emplace_back("flip at " + std::to_string(pos), damaged);
    }
    cases.emplace_back("truncated", bytes.substr(0, bytes.size() * 2 / 3));
    cases.emplace_back("trailing", bytes + "xyz");
    // A member error early in the tar stream and a zstd error later: decoding runs ahead on two
    // threads and meets the zstd error first, yet the earlier member error must win.
    std::vector<raw_member> members{{"a", random_bytes(2'000'000, 23)}, {"b", random_bytes(2'000'000, 24)}};
    std::string tar = make_tar(members, manifest_text_of(members));
    tar[0] = 'X';  // breaks the first header's checksum
    std::string early = zstd_compress(tar);
    cases.emplace_back("early member error, late zstd error", early.substr(0, early.size() - 100));
    // The same with the member error at the end (the manifest's header) and bytes after the zstd
    // frame: the feeder meets the trailing bytes while the worker still walks the last buffers.
    std::string late_tar = make_tar(members, manifest_text_of(members));
    std::size_t manifest_header = late_tar.find(".labsync/manifest.sha256");
    REQUIRE(manifest_header != std::string::npos);
    late_tar[manifest_header + 148] = 'x';  // its checksum field
    cases.emplace_back("late member error, then trailing bytes", zstd_compress(late_tar) + "xyz");
    std::vector<raw_member> listed{{"a", "alpha"}, {"b", random_bytes(1'500'000, 25)}};
    cases.emplace_back("member differs from the manifest",
                       zstd_compress(make_tar(listed, manifest_text_of({{"a", "ALPHA"}, listed[1]}))));

    for (const auto& [name, data] : cases)
        for (std::size_t chunk :
             {std::size_t{1} << 20, std::size_t{65536}, std::size_t{4093}, std::size_t{977}}) {
            INFO(name << ", chunks of " << chunk);
            outcome one = check_bytes_with(data, chunk, archive_check_threads::one);
            outcome two = check_bytes_with(data, chunk, archive_check_threads::two);
            CHECK(one.error == two.error);
            CHECK(one.path == two.path);
            CHECK(one.reason == two.reason);
            CHECK(one.sha256 == two.sha256);
            CHECK(one.files == two.files);
            CHECK(one.members == two.members);
            CHECK(static_cast<bool>(one.error) == (name != "valid"));
        }
}

TEST_CASE("checker: an archive of several zstd frames passes, a damaged second frame names its member",
          "[archive][component]") {
    std::vector<raw_member> members{{"a.bin", random_bytes(700'000, 31)},
                                    {"b.bin", random_bytes(900'000, 32)}};
    const std::string tar = make_tar(members, manifest_text_of(members));
    // Frames cut anywhere (an old single-frame archive is the case of no cut), with a skippable
    // frame between two of them.
    // b.bin's data is tar bytes 701,440..1,601,440: the second frame ends well inside it.
    const std::size_t cut1 = 300'000, cut2 = 1'300'000;
    std::string skippable("\x50\x2a\x4d\x18\x04\x00\x00\x00skip", 12);
    // Frames with content checksums, as the archiver writes them.
    auto compress = [](const std::string& data) {
        ZSTD_CCtx* c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        std::string out(ZSTD_compressBound(data.size()), '\0');
        std::size_t n = ZSTD_compress2(c, out.data(), out.size(), data.data(), data.size());
        ZSTD_freeCCtx(c);
        REQUIRE_FALSE(ZSTD_isError(n));
        out.resize(n);
        return out;
    };
    const std::string first = compress(tar.substr(0, cut1));
    const std::string second = compress(tar.substr(cut1, cut2 - cut1));
    const std::string multi = first + second + skippable + compress(tar.substr(cut2));
    for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{4093}}) {
        auto o = check_bytes(multi, chunk);
        INFO(o.reason);
        CHECK_FALSE(o.error);
        CHECK(o.files == 2);
        CHECK_FALSE(check_bytes(zstd_compress(tar), chunk).error);
    }
    // A flipped byte in the middle of the second frame (noise is stored in raw blocks, so its
    // content checksum fails at the frame's end): the member being decoded then is named.
    std::string damaged = multi;
    damaged[first.size() + second.size() / 2] ^= 0x20;
    auto bad = check_bytes(damaged, 65536);
    CHECK(bad.error == errc::archive_corrupt);
    CHECK(bad.path == "b.bin");
    CHECK(bad.reason.find("zstd") != std::string::npos);
    // Bytes after the last frame that are not a frame are still refused.
    CHECK(check_bytes(multi + "garbage!", 4096).error == errc::archive_corrupt);
}
