#include "frame_policy.hpp"

#include "labsync/verifier/archive_writer.hpp"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>

namespace labsync::verifier {

std::optional<int> parse_zstd_level(std::string_view text) {
    if (text == "adaptive") return zstd_level_adaptive;
    int level = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), level);
    if (ec != std::errc() || end != text.data() + text.size() || level < 0 || level > 19) return std::nullopt;
    return level;
}

}  // namespace labsync::verifier

namespace labsync::verifier::detail {

frame_policy::frame_policy(int level, std::uint64_t frame_bytes)
    : level_(level == zstd_level_adaptive ? adaptive_level : level),
      adaptive_(level == zstd_level_adaptive),
      fixed_(level == zstd_level_store ? frame_mode::store : frame_mode::compress),
      frame_bytes_(std::max<std::uint64_t>(frame_bytes, 1)),
      // Fixed levels decide once per frame; adaptive once per segment (never above a frame).
      segment_size_(adaptive_ ? std::min<std::uint64_t>(segment_bytes, frame_bytes_) : frame_bytes_),
      segment_in_(segment_size_) {}

frame_policy::step frame_policy::start_segment(std::span<const std::byte> sample) {
    frame_mode next = adaptive_ ? classify(sample) : fixed_;
    step s{next, false};
    if (frame_open_) {
        frame_in_ += segment_in_;
        if (next != mode_ || frame_in_ >= frame_bytes_) {
            s.end_frame_first = true;
            frame_in_ = 0;
        }
    }
    frame_open_ = true;
    mode_ = next;
    segment_in_ = 0;
    return s;
}

frame_mode frame_policy::classify(std::span<const std::byte> sample) {
    if (sample.empty()) return frame_mode::compress;
    struct probe {
        std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx{ZSTD_createCCtx(), &ZSTD_freeCCtx};
        std::vector<std::byte> scratch;
    };
    thread_local probe p;
    if (!p.cctx) return frame_mode::compress;
    p.scratch.resize(ZSTD_compressBound(sample.size()));
    std::size_t n =
        ZSTD_compressCCtx(p.cctx.get(), p.scratch.data(), p.scratch.size(), sample.data(), sample.size(), 1);
    if (ZSTD_isError(n)) return frame_mode::compress;  // let the real compressor decide
    return n >= sample.size() - sample.size() / 32 ? frame_mode::store : frame_mode::compress;
}

std::span<const std::byte> raw_frame_encoder::header() {
    // Magic 0xFD2FB528 (little endian); descriptor 0: no content size, not single-segment, no
    // checksum, no dictionary; window descriptor 0x38: exponent 7 -> 2^(10+7) = 128 KiB, which
    // also caps a block at 128 KiB.
    static constexpr std::array<std::byte, 6> bytes{std::byte{0x28}, std::byte{0xB5}, std::byte{0x2F},
                                                    std::byte{0xFD}, std::byte{0x00}, std::byte{0x38}};
    return bytes;
}

}  // namespace labsync::verifier::detail
