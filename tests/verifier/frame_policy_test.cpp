// The archiver's frame boundaries and encodings: frame_policy's decisions (unit), the stored-frame
// encoder against libzstd's decoder, zstd_output with small frames in every mode (chunking does not
// change the bytes), and pack_run at level 0 and adaptive read by the real `zstd -t` and `tar`.
#include "frame_policy.hpp"
#include "zstd_output.hpp"

#include "labsync/verifier/archive_checker.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/errc.hpp"

#include "archive_test_util.hpp"
#include "process.hpp"
#include "temp_dir.hpp"

#include <zstd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

using namespace labsync::verifier;
using namespace labsync::verifier::detail;
namespace fs = std::filesystem;
using labsync::test::random_bytes;
using labsync::test::read_file;
using labsync::test::run_process;
using labsync::test::temp_dir;
using labsync::test::write_file;

namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Text that compresses well but not to nothing: rows of pseudo-random numbers.
std::string csv_text(std::size_t n, std::uint64_t seed) {
    std::string out;
    std::uint64_t x = seed + 1;
    while (out.size() < n) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        out += std::to_string(out.size()) + "," + std::to_string((x >> 33) % 100000) + "\n";
    }
    out.resize(n);
    return out;
}

// raw_frame_encoder's output collected into `out`.
auto append_to(std::vector<std::byte>& out) {
    return [&out](std::span<const std::byte> b) {
        out.insert(out.end(), b.begin(), b.end());
        return true;
    };
}

struct frame_info {
    std::size_t size;
    bool stored;  // a stored frame (our raw-block header), not one from libzstd's compressor
};

// Walks the frames of a zstd stream with libzstd; REQUIREs that they cover it exactly.
std::vector<frame_info> frames_of(const std::string& data) {
    std::vector<frame_info> out;
    auto header = raw_frame_encoder::header();
    const std::string stored_header(reinterpret_cast<const char*>(header.data()), header.size());
    std::size_t at = 0;
    while (at < data.size()) {
        std::size_t n = ZSTD_findFrameCompressedSize(data.data() + at, data.size() - at);
        REQUIRE_FALSE(ZSTD_isError(n));
        out.push_back({n, data.compare(at, header.size(), stored_header) == 0});
        at += n;
    }
    return out;
}

std::string decompress(const std::string& data) {
    std::string out;
    ZSTD_DStream* d = ZSTD_createDStream();
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    std::string buf(1 << 16, '\0');
    std::size_t r = 0;
    ZSTD_outBuffer o{buf.data(), buf.size(), 0};
    do {  // until all input is taken and a call leaves room in the output (nothing held back)
        o = {buf.data(), buf.size(), 0};
        std::size_t taken = in.pos;
        std::size_t got = ZSTD_decompressStream(d, &o, &in);
        REQUIRE_FALSE(ZSTD_isError(got));
        if (o.pos > 0 || in.pos > taken) r = got;  // not the idle call after a full output
        out.append(buf.data(), o.pos);
    } while (in.pos < in.size || o.pos == o.size);
    ZSTD_freeDStream(d);
    CHECK(r == 0);  // the last frame is complete
    return out;
}

// zstd_output into `path` with `frame_bytes`, fed in chunks of `chunk`.
std::string encode(const fs::path& path, const std::string& input, int level, unsigned threads,
                   std::uint64_t frame_bytes, std::size_t chunk) {
    zstd_output out;
    std::error_code ec;
    REQUIRE(out.open(path, level, threads, ec, frame_bytes));
    for (std::size_t at = 0; at < input.size(); at += chunk)
        REQUIRE(out.write(bytes_of(input).subspan(at, std::min(chunk, input.size() - at)), ec));
    REQUIRE(out.finish(ec));
    REQUIRE(out.commit(ec));
    std::string bytes = read_file(path);
    CHECK(out.bytes_written() == bytes.size());
    CHECK(to_hex(out.digest()) == to_hex(sha256::of(bytes)));
    return bytes;
}

}  // namespace

TEST_CASE("frame policy: fixed levels cut a frame every frame_bytes of input", "[archive][unit]") {
    frame_policy p(3, 1000);
    CHECK_FALSE(p.adaptive());
    CHECK_FALSE(p.frame_open());
    REQUIRE(p.at_segment_start());
    auto first = p.start_segment({});
    CHECK(first.mode == frame_mode::compress);
    CHECK_FALSE(first.end_frame_first);
    CHECK(p.room() == 1000);
    p.consumed(400);
    CHECK_FALSE(p.at_segment_start());
    CHECK(p.room() == 600);
    p.consumed(600);
    REQUIRE(p.at_segment_start());
    auto second = p.start_segment({});
    CHECK(second.end_frame_first);
    CHECK(second.mode == frame_mode::compress);

    frame_policy store(zstd_level_store, 1000);
    CHECK(store.start_segment({}).mode == frame_mode::store);
    CHECK(store.zstd_level() == 0);
}

TEST_CASE("frame policy: adaptive stores what does not compress and starts a frame where the mode changes",
          "[archive][unit]") {
    const std::string noise = random_bytes(frame_policy::sample_bytes, 1);
    const std::string text = csv_text(frame_policy::sample_bytes, 2);
    CHECK(frame_policy::classify(bytes_of(noise)) == frame_mode::store);
    CHECK(frame_policy::classify(bytes_of(text)) == frame_mode::compress);
    CHECK(frame_policy::classify(bytes_of(std::string(5000, '\0'))) == frame_mode::compress);

    const std::uint64_t seg = frame_policy::segment_bytes;
    frame_policy p(zstd_level_adaptive, 3 * seg);
    CHECK(p.adaptive());
    CHECK(p.zstd_level() == 1);  // what it compresses, it compresses at the cheapest level
    CHECK(p.sample_size() == frame_policy::sample_bytes);
    auto run = [&](const std::string& sample) {
        REQUIRE(p.at_segment_start());
        auto s = p.start_segment(bytes_of(sample));
        CHECK(p.room() == seg);
        p.consumed(seg);
        return s;
    };
    auto a = run(noise);  // first frame: stored
    CHECK(a.mode == frame_mode::store);
    CHECK_FALSE(a.end_frame_first);
    auto b = run(noise);  // same mode, same frame
    CHECK_FALSE(b.end_frame_first);
    auto c = run(text);  // mode changes: new frame
    CHECK(c.mode == frame_mode::compress);
    CHECK(c.end_frame_first);
    CHECK_FALSE(run(text).end_frame_first);
    CHECK_FALSE(run(text).end_frame_first);
    CHECK(run(text).end_frame_first);  // 3 segments in the frame: frame_bytes reached
}

TEST_CASE("stored frames are raw zstd blocks libzstd decodes, whatever the chunking", "[archive][unit]") {
    const std::string content = random_bytes(300'000, 3);
    auto frame_of = [&](std::size_t chunk) {
        raw_frame_encoder enc;
        std::vector<std::byte> out(raw_frame_encoder::header().begin(), raw_frame_encoder::header().end());
        for (std::size_t at = 0; at < content.size(); at += chunk)
            REQUIRE(
                enc.add(bytes_of(content).subspan(at, std::min(chunk, content.size() - at)), append_to(out)));
        REQUIRE(enc.end(append_to(out)));
        return std::string(reinterpret_cast<const char*>(out.data()), out.size());
    };
    const std::string frame = frame_of(1 << 20);
    CHECK(frame == frame_of(1000));
    CHECK(frame == frame_of(1));
    // 6 header bytes, blocks of 128 KiB + the last one, each with a 3-byte header.
    CHECK(frame.size() == 6 + content.size() + 3 * 3);
    std::string decoded(content.size(), '\0');
    std::size_t n = ZSTD_decompress(decoded.data(), decoded.size(), frame.data(), frame.size());
    REQUIRE_FALSE(ZSTD_isError(n));
    CHECK(n == content.size());
    CHECK(decoded == content);
    // An empty stored frame (header + empty last block) decodes to nothing.
    raw_frame_encoder empty;
    std::vector<std::byte> out(raw_frame_encoder::header().begin(), raw_frame_encoder::header().end());
    REQUIRE(empty.end(append_to(out)));
    CHECK(ZSTD_decompress(decoded.data(), decoded.size(), out.data(), out.size()) == 0);
}

TEST_CASE("stored frames pass whole blocks of the input through uncopied, a refusing sink stops the encoder",
          "[archive][unit]") {
    const std::string content = random_bytes(3 * raw_frame_encoder::raw_block_bytes + 10, 4);
    const auto in = bytes_of(content);
    raw_frame_encoder enc;
    std::vector<std::span<const std::byte>> puts;
    auto record = [&](std::span<const std::byte> b) {
        puts.push_back(b);
        return true;
    };
    // 10 bytes first: the first block is gathered; then two whole blocks straight from the input.
    REQUIRE(enc.add(in.first(10), record));
    CHECK(puts.empty());
    REQUIRE(enc.add(in.subspan(10), record));
    REQUIRE(puts.size() == 6);           // header + bytes of 3 blocks; the 10-byte tail waits
    CHECK(puts[1].data() != in.data());  // gathered
    CHECK(puts[3].data() == in.data() + raw_frame_encoder::raw_block_bytes);  // passed through
    CHECK(puts[5].data() == in.data() + 2 * raw_frame_encoder::raw_block_bytes);
    CHECK(puts[5].size() == raw_frame_encoder::raw_block_bytes);
    std::size_t calls = 0;
    auto refuse = [&](std::span<const std::byte>) {
        ++calls;
        return false;
    };
    raw_frame_encoder other;
    CHECK_FALSE(other.add(in, refuse));
    CHECK(calls == 1);  // stopped at the first refusal
}

TEST_CASE("zstd_output: independent frames in every mode, the same bytes for any chunking and workers",
          "[archive][component]") {
    temp_dir dir;
    // Noise and text in 1 MiB stretches, so adaptive switches; 6.5 MiB in 2 MiB frames.
    std::string input;
    for (int i = 0; input.size() < (13u << 19); ++i)
        input += i % 3 == 0 ? csv_text(1u << 20, i) : random_bytes(1u << 20, i);
    input.resize(13u << 19);
    const std::uint64_t frame_bytes = 2u << 20;
    for (int level : {3, zstd_level_store, zstd_level_adaptive}) {
        INFO("level " << level);
        const std::string a = encode(dir / "a.zst", input, level, 0, frame_bytes, 1 << 20);
        CHECK(encode(dir / "b.zst", input, level, 0, frame_bytes, 4093) == a);
        // With workers (libzstd's multi-threaded format, whatever their number) as without.
        const std::string mt = encode(dir / "c.zst", input, level, 2, frame_bytes, 65536);
        CHECK(encode(dir / "d.zst", input, level, 1, frame_bytes, 1 << 20) == mt);
        CHECK(decompress(mt) == input);
        if (level == zstd_level_store) CHECK(mt == a);  // no libzstd compressor involved
        CHECK(decompress(a) == input);
        auto frames = frames_of(a);
        auto raw = std::count_if(frames.begin(), frames.end(), [](auto& f) { return f.stored; });
        if (level == 3) {
            CHECK(frames.size() == 4);  // 6.5 MiB / 2 MiB
            CHECK(raw == 0);
        } else if (level == zstd_level_store) {
            CHECK(frames.size() == 4);
            CHECK(raw == 4);
            CHECK(a.size() ==
                  input.size() + 4 * 6 + 3 * (input.size() / raw_frame_encoder::raw_block_bytes + 4));
        } else {
            // Text, noise, noise, text, noise, noise, text (half): a frame per change or 2 MiB.
            CHECK(frames.size() == 5);
            CHECK(raw == 2);
            CHECK(a.size() < input.size());
        }
        auto tested = run_process({"zstd", "-q", "-t", (dir / "a.zst").string()});
        INFO(tested.err);
        CHECK(tested.exit_code == 0);
    }
}

TEST_CASE("pack: level 0 and adaptive archives are deterministic, checked, and read by zstd and tar",
          "[archive][component]") {
    temp_dir dir;
    write_file(dir / "run" / "noise.bin", random_bytes(3u << 20, 4));
    write_file(dir / "run" / "table.csv", csv_text(3u << 20, 5));
    write_file(dir / "run" / "done.marker", "");
    pack_result level3 = pack_run(dir / "run", dir / "l3.tar.zst");
    REQUIRE(level3.ok());
    for (int level : {zstd_level_store, zstd_level_adaptive}) {
        INFO("level " << level);
        pack_options o;
        o.level = level;
        pack_result a = pack_run(dir / "run", dir / "a.tar.zst", o);
        REQUIRE(a.ok());
        pack_result b = pack_run(dir / "run", dir / "b.tar.zst", o);
        REQUIRE(b.ok());
        CHECK(read_file(dir / "a.tar.zst") == read_file(dir / "b.tar.zst"));
        if (level == zstd_level_store) {
            CHECK(a.compressed_bytes > a.input_bytes);  // stored: the tar stream plus framing
            CHECK(a.compressed_bytes > level3.compressed_bytes);
        } else {  // the CSV compressed as at level 3, the noise stored (as libzstd does too)
            CHECK(a.compressed_bytes < level3.compressed_bytes + level3.compressed_bytes / 100);
        }
        auto check = check_archive_file(dir / "a.tar.zst");
        INFO(check.error_reason);
        CHECK(check.ok());
        CHECK(check.files == 3);
        CHECK(run_process({"zstd", "-q", "-t", (dir / "a.tar.zst").string()}).exit_code == 0);
        fs::remove_all(dir / "x");
        fs::create_directories(dir / "x");
        auto tar =
            run_process({"tar", "--zstd", "-xf", (dir / "a.tar.zst").string(), "-C", (dir / "x").string()});
        INFO(tar.err);
        REQUIRE(tar.exit_code == 0);
        CHECK(read_file(dir / "x" / "table.csv") == read_file(dir / "run" / "table.csv"));
        CHECK(read_file(dir / "x" / "noise.bin") == read_file(dir / "run" / "noise.bin"));
    }
}

TEST_CASE("checker: a hand-made stored frame passes, a frame asking for a window over 8 MiB is refused",
          "[archive][unit]") {
    std::vector<labsync::test::raw_member> members{{"a", random_bytes(200'000, 6)}};
    const std::string tar = labsync::test::make_tar(members, labsync::test::manifest_text_of(members));
    raw_frame_encoder enc;
    std::vector<std::byte> out(raw_frame_encoder::header().begin(), raw_frame_encoder::header().end());
    REQUIRE(enc.add(bytes_of(tar), append_to(out)));
    REQUIRE(enc.end(append_to(out)));
    auto check = [](const std::vector<std::byte>& bytes) {
        archive_checker c;
        c.feed(bytes);
        c.finish();
        return std::pair{c.error(), c.error_reason()};
    };
    CHECK_FALSE(check(out).first);
    out[5] = std::byte{14 << 3};  // window descriptor: 2^(10+14) = 16 MiB
    auto [ec, reason] = check(out);
    CHECK(ec == errc::archive_corrupt);
    CHECK(reason.find("zstd") != std::string::npos);
}
