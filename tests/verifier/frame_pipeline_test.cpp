// Parallel frames: the scanner finds exactly the frame boundaries libzstd finds, the checker with
// frames decoded in parallel gives exactly the verdicts of one thread (valid, a corrupt frame in
// the middle, truncated, garbage; any chunking, decoders and budget), and a pipeline whose walk is
// stuck holds bounded memory while another one on the same budget completes.
#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/errc.hpp"

#include "archive_test_util.hpp"
#include "checker_outcome.hpp"
#include "frame_pipeline.hpp"
#include "zstd_frame_scanner.hpp"

#include <zstd.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace labsync::verifier;
using labsync::test::check_bytes_in;
using labsync::test::make_tar;
using labsync::test::manifest_text_of;
using labsync::test::outcome;
using labsync::test::random_bytes;
using labsync::test::raw_member;
using labsync::test::zstd_compress;

namespace {

// Independent frames of `input` bytes each, with content checksums, as the archiver cuts them.
std::string compress_frames(const std::string& data, std::size_t input, bool checksum = true) {
    std::string out;
    for (std::size_t at = 0; at < data.size(); at += input) {
        ZSTD_CCtx* c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, checksum ? 1 : 0);
        std::size_t n = std::min(input, data.size() - at);
        std::string frame(ZSTD_compressBound(n), '\0');
        std::size_t r = ZSTD_compress2(c, frame.data(), frame.size(), data.data() + at, n);
        ZSTD_freeCCtx(c);
        REQUIRE_FALSE(ZSTD_isError(r));
        out.append(frame.data(), r);
    }
    return out;
}

std::vector<std::size_t> frame_ends(const std::string& s) {
    std::vector<std::size_t> ends;
    for (std::size_t at = 0; at < s.size();) {
        std::size_t n = ZSTD_findFrameCompressedSize(s.data() + at, s.size() - at);
        REQUIRE_FALSE(ZSTD_isError(n));
        at += n;
        ends.push_back(at);
    }
    return ends;
}

std::vector<std::size_t> scanned_ends(const std::string& s, std::size_t chunk,
                                      detail::zstd_frame_scanner& sc) {
    std::vector<std::size_t> ends;
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    std::size_t at = 0;
    for (std::size_t off = 0; off < s.size(); off += chunk) {
        std::span<const std::byte> piece(p + off, std::min(chunk, s.size() - off));
        while (!piece.empty()) {
            bool end = false;
            std::size_t n = sc.scan(piece, end);
            if (n == 0) FAIL("the scanner took no byte");
            at += n;
            piece = piece.subspan(n);
            if (end) ends.push_back(at);
        }
    }
    return ends;
}

const std::vector<raw_member>& members() {
    static const std::vector<raw_member> m{{"a.bin", random_bytes(3'000'000, 41)},
                                           {"b.csv", std::string(2'000'000, 'b')},
                                           {"c.bin", random_bytes(1'500'000, 42)}};
    return m;
}

outcome check(archive_checker checker, const std::string& bytes, std::size_t chunk) {
    return check_bytes_in(checker, bytes, chunk);
}

}  // namespace

TEST_CASE("frame scanner: the boundaries libzstd finds, in any chunking, lost at garbage",
          "[archive][unit]") {
    const std::string tar = make_tar(members(), manifest_text_of(members()));
    std::string skippable(
        "\x5f\x2a\x4d\x18\x03\x00\x00\x00"
        "abc",
        11);
    const std::string empty_skippable("\x50\x2a\x4d\x18\x00\x00\x00\x00", 8);
    const std::string stream = compress_frames(tar.substr(0, 2'500'000), 1u << 20) + skippable +
                               empty_skippable + compress_frames(tar.substr(2'500'000), 1u << 20, false) +
                               zstd_compress("");
    const auto expected = frame_ends(stream);
    REQUIRE(expected.size() == 10);
    for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, std::size_t{4093}, stream.size()}) {
        INFO("chunks of " << chunk);
        detail::zstd_frame_scanner sc;
        CHECK(scanned_ends(stream, chunk, sc) == expected);
        CHECK_FALSE(sc.lost());
    }
    detail::zstd_frame_scanner sc;
    CHECK(scanned_ends(stream + "garbage" + stream, 4096, sc) == expected);  // no ends after it
    CHECK(sc.lost());
}

TEST_CASE("checker: parallel frames give exactly the verdicts of one thread", "[archive][component]") {
    const std::string tar = make_tar(members(), manifest_text_of(members()));
    const std::string bytes = compress_frames(tar, 1u << 20);  // 7 frames
    const auto ends = frame_ends(bytes);
    REQUIRE(ends.size() == 7);
    std::vector<std::pair<std::string, std::string>> cases{{"valid", bytes}};
    cases.emplace_back("one frame (an old archive)", zstd_compress(tar));
    for (std::size_t f : {std::size_t{1}, std::size_t{3}, std::size_t{5}}) {  // a corrupt frame in the middle
        std::string damaged = bytes;
        damaged[(ends[f - 1] + ends[f]) / 2] ^= 0x10;
        cases.emplace_back("flip in frame " + std::to_string(f), damaged);
    }
    std::string header = bytes;
    header[ends[2] + 4] = static_cast<char>(0xff);  // frame 3's header descriptor: reserved bit
    cases.emplace_back("bad frame header", header);
    cases.emplace_back("truncated in a frame", bytes.substr(0, (ends[3] + ends[4]) / 2));
    cases.emplace_back("truncated at a frame end", bytes.substr(0, ends[3]));
    cases.emplace_back("trailing garbage", bytes + "xyz");
    std::vector<raw_member> listed{{"a", "alpha"}, {"b", random_bytes(1'500'000, 43)}};
    cases.emplace_back(
        "member differs from the manifest",
        compress_frames(make_tar(listed, manifest_text_of({{"a", "ALPHA"}, listed[1]})), 300'000));

    for (const auto& [name, data] : cases)
        for (std::size_t chunk : {std::size_t{1} << 20, std::size_t{65536}, std::size_t{4093}}) {
            outcome one = check(archive_checker(true, archive_check_threads::one), data, chunk);
            CHECK(static_cast<bool>(one.error) == (name.find("valid") != 0 && name.find("one frame") != 0));
            for (std::size_t decoders : {1, 2, 3})
                for (std::size_t budget : {std::size_t{0}, std::size_t{300} << 10, std::size_t{64} << 20}) {
                    INFO(name << ", chunks of " << chunk << ", " << decoders << " decoders, budget "
                              << budget);
                    auto shared = budget == 0 ? nullptr : std::make_shared<check_budget>(budget);
                    outcome par =
                        check(archive_checker(true, parallel_frames{decoders, shared}), data, chunk);
                    INFO("one: " << one.error.message() << " [" << one.path << "] " << one.reason);
                    INFO("parallel: " << par.error.message() << " [" << par.path << "] " << par.reason);
                    CHECK(one == par);
                    if (shared) CHECK(shared->used() == 0);
                }
        }
}

TEST_CASE("frame pipeline: a stuck walk holds bounded memory, another pipeline on the budget completes",
          "[archive][component]") {
    // Noise: compressed as large as decoded, 12 frames; twice what own memory and budget hold.
    const std::string tar = random_bytes(12u << 20, 44);
    const std::string bytes = compress_frames(tar, 1u << 20);
    const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
    auto budget = std::make_shared<check_budget>(3u << 20);  // less than the stream
    detail::frame_pipeline::limits lim;                      // 4 × 512 KiB own, 1 MiB own input

    std::mutex m;
    std::condition_variable cv;
    bool released = false;
    std::string walked_a;
    detail::frame_pipeline a(lim, budget, [&](const std::byte* d, std::size_t n) {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return released; });
        walked_a.append(reinterpret_cast<const char*>(d), n);
        return true;
    });
    std::atomic<bool> fed{false};
    std::thread feeder([&] {
        a.feed({p, bytes.size()});
        fed = true;
    });
    // Wait until `a` decodes ahead on the budget (it can, its walk being stuck at the first piece).
    for (int i = 0; i < 1000 && a.lookahead_jobs() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(a.lookahead_jobs() > 0);  // no REQUIRE: the feeder thread must be released below
    CHECK(budget->used() > 0);

    // Another pipeline on the same budget decodes the whole stream, in order.
    std::string walked_b;
    detail::frame_pipeline b(lim, budget, [&](const std::byte* d, std::size_t n) {
        walked_b.append(reinterpret_cast<const char*>(d), n);
        return true;
    });
    CHECK(b.feed({p, bytes.size()}));
    CHECK(b.finish() == detail::frame_pipeline::outcome::complete);
    CHECK(walked_b == tar);

    // Meanwhile `a` took no more than its own memory and the budget: its feeder still waits.
    CHECK_FALSE(fed);
    CHECK(budget->used() <= budget->limit());
    {
        std::lock_guard lock(m);
        released = true;
    }
    cv.notify_all();
    feeder.join();
    CHECK(a.finish() == detail::frame_pipeline::outcome::complete);
    CHECK(walked_a == tar);
    CHECK(budget->used() == 0);
}
