#include "zstd_frame_scanner.hpp"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader, ZSTD_frameHeader
#include <zstd.h>

#include <algorithm>
#include <cstring>

namespace labsync::verifier::detail {
namespace {

constexpr std::uint32_t frame_magic = 0xFD2FB528u;
constexpr std::uint32_t skippable_magic = 0x184D2A50u;  // ..0x184D2A5F
constexpr std::size_t magic_size = 4;
constexpr std::size_t skippable_header_size = 8;  // magic + frame size
constexpr std::size_t block_header_size = 3;

std::uint32_t read_le(const unsigned char* p, std::size_t n) {
    std::uint32_t v = 0;
    for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

}  // namespace

std::size_t zstd_frame_scanner::scan(std::span<const std::byte> data, bool& frame_end) {
    frame_end = false;
    std::size_t at = 0;
    while (at < data.size() && !frame_end) {
        switch (state_) {
            case state::lost:
                return data.size();
            case state::skip:
            case state::block_body:
            case state::checksum: {
                auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size() - at));
                at += take;
                remaining_ -= take;
                if (remaining_ > 0) break;
                if (state_ == state::block_body)
                    after_block(frame_end);
                else
                    end_frame(frame_end);
                break;
            }
            default: {  // collecting a fixed-size piece
                std::size_t take = std::min(need_ - have_, data.size() - at);
                std::memcpy(buf_ + have_, data.data() + at, take);
                have_ += take;
                at += take;
                if (have_ == need_) collected(frame_end);
            }
        }
    }
    return at;
}

void zstd_frame_scanner::collected(bool& frame_end) {
    switch (state_) {
        case state::magic: {
            std::uint32_t magic = read_le(buf_, magic_size);
            header_read_ = false;
            window_size_ = 0;
            if (magic == frame_magic) {
                state_ = state::frame_header;
                need_ = magic_size + 1;  // + the frame header descriptor, which gives the header's size
            } else if ((magic & 0xFFFFFFF0u) == skippable_magic) {
                state_ = state::skippable_header;
                need_ = skippable_header_size;
            } else {
                state_ = state::lost;
            }
            return;
        }
        case state::frame_header: {
            if (need_ == magic_size + 1) {
                std::size_t size = ZSTD_frameHeaderSize(buf_, have_);
                if (ZSTD_isError(size) || size > sizeof buf_) {
                    state_ = state::lost;
                    return;
                }
                need_ = size;
                if (have_ < need_) return;
            }
            ZSTD_frameHeader h{};
            if (ZSTD_getFrameHeader(&h, buf_, have_) != 0) {
                state_ = state::lost;
                return;
            }
            header_read_ = true;
            window_size_ = h.windowSize;
            checksum_ = h.checksumFlag != 0;
            state_ = state::block_header;
            have_ = 0;
            need_ = block_header_size;
            return;
        }
        case state::skippable_header:
            header_read_ = true;
            remaining_ = read_le(buf_ + magic_size, 4);
            state_ = state::skip;
            if (remaining_ == 0) end_frame(frame_end);
            return;
        case state::block_header: {
            std::uint32_t h = read_le(buf_, block_header_size);
            last_block_ = (h & 1u) != 0;
            unsigned type = (h >> 1) & 3u;
            std::uint32_t size = h >> 3;
            if (type == 3) {  // reserved
                state_ = state::lost;
                return;
            }
            remaining_ = type == 1 ? 1 : size;  // RLE: one byte repeated `size` times
            state_ = state::block_body;
            have_ = 0;
            if (remaining_ == 0) after_block(frame_end);
            return;
        }
        default:
            return;
    }
}

void zstd_frame_scanner::after_block(bool& frame_end) {
    if (!last_block_) {
        state_ = state::block_header;
        have_ = 0;
        need_ = block_header_size;
    } else if (checksum_) {
        state_ = state::checksum;
        remaining_ = 4;
    } else {
        end_frame(frame_end);
    }
}

void zstd_frame_scanner::end_frame(bool& frame_end) {
    frame_end = true;
    ++frames_ended_;
    state_ = state::magic;
    have_ = 0;
    need_ = magic_size;
}

}  // namespace labsync::verifier::detail
