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
    : level_(level == zstd_level_adaptive ? 3 : level),
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
    std::size_t bound = ZSTD_compressBound(sample.size());
    std::unique_ptr<std::byte[]> scratch(new std::byte[bound]);
    std::size_t n = ZSTD_compress(scratch.get(), bound, sample.data(), sample.size(), 1);
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

void raw_frame_encoder::add(std::span<const std::byte> data, std::vector<std::byte>& out) {
    while (!data.empty()) {
        std::size_t take = std::min(data.size(), raw_block_bytes - block_.size());
        block_.insert(block_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
        data = data.subspan(take);
        if (block_.size() == raw_block_bytes) emit(false, out);
    }
}

void raw_frame_encoder::end(std::vector<std::byte>& out) {
    emit(true, out);
}

void raw_frame_encoder::emit(bool last, std::vector<std::byte>& out) {
    // Block header, 3 bytes little endian: bit 0 Last_Block, bits 1-2 Block_Type (0 = raw),
    // bits 3-23 Block_Size.
    auto h = static_cast<std::uint32_t>(block_.size() << 3) | (last ? 1u : 0u);
    out.push_back(static_cast<std::byte>(h & 0xff));
    out.push_back(static_cast<std::byte>((h >> 8) & 0xff));
    out.push_back(static_cast<std::byte>((h >> 16) & 0xff));
    out.insert(out.end(), block_.begin(), block_.end());
    block_.clear();
}

}  // namespace labsync::verifier::detail
