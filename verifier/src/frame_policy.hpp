#pragma once
// Where the archiver's zstd stream is cut into independent frames, and how each frame is encoded:
// compressed at a fixed level, stored (zstd raw blocks, level 0), or — adaptive — chosen per
// segment from a sample of its first bytes (stored or level 1). A pure decision: zstd_output feeds it the
// input sizes and samples and acts on its answers. The choices depend only on the input bytes, so the archive
// stays a function of (run, options). Private to the verifier module.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace labsync::verifier::detail {

enum class frame_mode : std::uint8_t { compress, store };

class frame_policy {
public:
    // A new frame starts after this much input (at the next segment start), so a reader can
    // decode frames independently; 16 MiB costs < 0.1 % of size on `mixed` (bench/results).
    static constexpr std::uint64_t default_frame_bytes = 16u << 20;
    // Adaptive: one decision per segment, from a sample of its first bytes.
    static constexpr std::size_t segment_bytes = 1u << 20;
    static constexpr std::size_t sample_bytes = 64u << 10;

    // level: 1..22 compress, 0 store, zstd_level_adaptive (archive_writer.hpp) adaptive.
    explicit frame_policy(int level = 3, std::uint64_t frame_bytes = default_frame_bytes);

    bool adaptive() const noexcept { return adaptive_; }
    // The zstd level of compressed frames.
    int zstd_level() const noexcept { return level_; }

    // True when the next input byte starts a segment: call start_segment() first (adaptive: with
    // the segment's first min(sample_bytes, remaining input) bytes as the sample).
    bool at_segment_start() const noexcept { return segment_in_ == segment_size_; }
    // Adaptive: the sample's size (the segment's first bytes), at most sample_bytes.
    std::size_t sample_size() const noexcept {
        return static_cast<std::size_t>(std::min<std::uint64_t>(sample_bytes, segment_size_));
    }
    struct step {
        frame_mode mode;
        bool end_frame_first;  // the open frame must be ended before this segment's bytes
    };
    step start_segment(std::span<const std::byte> sample);
    // Input bytes the current segment still takes (> 0 after start_segment()).
    std::uint64_t room() const noexcept { return segment_size_ - segment_in_; }
    void consumed(std::uint64_t n) noexcept { segment_in_ += n; }
    // Whether a frame has been started (and so must be ended when the input ends), and its mode.
    bool frame_open() const noexcept { return frame_open_; }
    frame_mode mode() const noexcept { return mode_; }

    // Adaptive's test: store when level-1 zstd saves less than 1/32 of the sample. Reuses one
    // compression context per thread (a new one per segment cost more than the probe).
    static frame_mode classify(std::span<const std::byte> sample);
    // The zstd level of adaptive's compressed frames: what it compresses, it compresses cheaply.
    static constexpr int adaptive_level = 1;

private:
    int level_;
    bool adaptive_;
    frame_mode fixed_;
    std::uint64_t frame_bytes_;
    std::uint64_t segment_size_;
    std::uint64_t segment_in_;
    std::uint64_t frame_in_ = 0;  // input of the open frame before the current segment
    bool frame_open_ = false;
    frame_mode mode_ = frame_mode::compress;
};

// The zstd encoding of stored frames (RFC 8878 raw blocks, no checksum: the archive's sha256 and
// the member hashes cover the bytes). Blocks are cut every raw_block_bytes of frame content, so
// the output does not depend on how the input was chunked.
class raw_frame_encoder {
public:
    static constexpr std::size_t raw_block_bytes = 128u << 10;

    // The frame header (magic, descriptor, window of 128 KiB): 6 bytes.
    static std::span<const std::byte> header();
    // Appends content. Every full block goes to `put` (bool(std::span<const std::byte>); false
    // stops and is returned) as its 3-byte header, then its bytes; a whole block of `data` is
    // passed through without a copy, only a block's pieces are gathered here.
    template <class Put>
    bool add(std::span<const std::byte> data, Put&& put) {
        while (!data.empty()) {
            if (block_.empty() && data.size() >= raw_block_bytes) {
                auto h = block_header(false, raw_block_bytes);
                if (!put(std::span<const std::byte>(h)) || !put(data.first(raw_block_bytes))) return false;
                data = data.subspan(raw_block_bytes);
                continue;
            }
            std::size_t take = std::min(data.size(), raw_block_bytes - block_.size());
            block_.insert(block_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
            data = data.subspan(take);
            if (block_.size() == raw_block_bytes && !emit(false, put)) return false;
        }
        return true;
    }
    // The last block (possibly empty) with the Last_Block flag; the encoder is ready for a new frame.
    template <class Put>
    bool end(Put&& put) {
        return emit(true, put);
    }

private:
    // Block header, 3 bytes little endian: bit 0 Last_Block, bits 1-2 Block_Type (0 = raw),
    // bits 3-23 Block_Size.
    static std::array<std::byte, 3> block_header(bool last, std::size_t size) {
        auto h = static_cast<std::uint32_t>(size << 3) | (last ? 1u : 0u);
        return {static_cast<std::byte>(h & 0xff), static_cast<std::byte>((h >> 8) & 0xff),
                static_cast<std::byte>((h >> 16) & 0xff)};
    }
    template <class Put>
    bool emit(bool last, Put& put) {
        auto h = block_header(last, block_.size());
        bool ok = put(std::span<const std::byte>(h)) && put(std::span<const std::byte>(block_));
        block_.clear();
        return ok;
    }
    std::vector<std::byte> block_;
};

}  // namespace labsync::verifier::detail
