#pragma once
// Finds where the zstd frames of a stream end without decompressing it: the frame header, then
// every block header (the block's size is in it), then the optional checksum; skippable frames
// are stepped over by their size. Sans-I/O: scan() takes bytes in pieces of any size. Used by the
// checker to hand each frame of an archive to its own decoder. Private to the verifier module.
//
// The scanner does not judge the stream: at anything it cannot follow (not a frame magic, a
// header zstd rejects, a reserved block type) it stops finding boundaries and takes every
// remaining byte as part of the current frame, so that the decoder reports the error exactly
// as it would on one stream.

#include <cstddef>
#include <cstdint>
#include <span>

namespace labsync::verifier::detail {

class zstd_frame_scanner {
public:
    // Takes bytes from the front of `data` up to and including the end of the current frame:
    // returns how many, with frame_end set when they end one (the next byte starts a new frame).
    std::size_t scan(std::span<const std::byte> data, bool& frame_end);

    // The current frame's window size in bytes once its header is read (skippable frames: 0).
    bool header_read() const noexcept { return header_read_; }
    std::uint64_t window_size() const noexcept { return window_size_; }
    // Stopped following the frames (see above): no frame ends from here on.
    bool lost() const noexcept { return state_ == state::lost; }
    std::uint64_t frames_ended() const noexcept { return frames_ended_; }

private:
    enum class state {
        magic,
        frame_header,
        skippable_header,
        skip,
        block_header,
        block_body,
        checksum,
        lost
    };

    // The fixed-size piece being collected (magic, header, block header) is complete.
    void collected(bool& frame_end);
    void after_block(bool& frame_end);
    void end_frame(bool& frame_end);

    state state_ = state::magic;
    unsigned char buf_[18] = {};  // the longest frame header: magic 4 + 14
    std::size_t have_ = 0;
    std::size_t need_ = 4;
    std::uint64_t remaining_ = 0;  // bytes to step over in skip / block_body / checksum
    bool last_block_ = false;
    bool checksum_ = false;
    bool header_read_ = false;
    std::uint64_t window_size_ = 0;
    std::uint64_t frames_ended_ = 0;
};

}  // namespace labsync::verifier::detail
