#pragma once
// The output side of the archiver: libzstd streaming compression into `<out>.partial`, hashing
// the compressed bytes as they are written, then fsync + rename + directory fsync; or into a
// caller's sink (the bytes handed over in order, no file). The stream is a series of independent
// frames, compressed or stored as frame_policy decides. Private to the verifier module.

#include "chunk_pipe.hpp"
#include "frame_policy.hpp"
#include "labsync/verifier/sha256.hpp"
#include "labsync/verifier/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <system_error>
#include <thread>
#include <vector>

struct ZSTD_CCtx_s;

namespace labsync::verifier::detail {

class zstd_output {
public:
    zstd_output();
    ~zstd_output();  // discards an uncommitted .partial
    zstd_output(const zstd_output&) = delete;
    zstd_output& operator=(const zstd_output&) = delete;

    using sink_fn = std::function<std::error_code(std::span<const std::byte>)>;

    // Creates (truncates) `<out>.partial` next to `out` and sets up the compressor. `level` as
    // pack_options::level (0 store, zstd_level_adaptive); a new frame every `frame_bytes` of input.
    bool open(const std::filesystem::path& out, int level, unsigned threads, std::error_code& ec,
              std::uint64_t frame_bytes = frame_policy::default_frame_bytes);
    // Sets up the compressor for a sink: each compressed buffer is hashed, then given to `sink`
    // (an error from it stops the output); commit() and discard() have no file to act on.
    bool open(sink_fn sink, int level, unsigned threads, std::error_code& ec,
              std::uint64_t frame_bytes = frame_policy::default_frame_bytes);
    // Compresses (or stores) `data`; whatever is produced is hashed and written.
    bool write(std::span<const std::byte> data, std::error_code& ec);
    // Ends the last frame and writes the rest; then the digest and size are final.
    bool finish(std::error_code& ec);
    // fsync the file, rename it to its final name, fsync the directory.
    bool commit(std::error_code& ec);
    // Removes the .partial (idempotent; nothing after commit).
    void discard() noexcept;

    sha256_digest digest() const noexcept { return digest_; }
    std::uint64_t bytes_written() const noexcept { return written_; }
    const std::filesystem::path& partial_path() const noexcept { return partial_path_; }

private:
    bool setup(unsigned threads, std::error_code& ec);  // the compressor for policy_
    bool encode(std::span<const std::byte> data, std::error_code& ec);
    bool start_segment(std::span<const std::byte> sample, std::error_code& ec);
    bool end_frame(frame_mode mode, std::error_code& ec);
    // Stored frames' bytes: gathered into output buffers (one copy) in order, or written.
    bool put(std::span<const std::byte> data, std::error_code& ec);
    void flush_put();  // hands over the gathered buffer (before libzstd's output or the end)
    bool drain(const void* in, std::size_t size, int directive, std::error_code& ec);
    bool write_all(const std::byte* data, std::size_t size, std::error_code& ec);
    void writer_loop();
    bool stop_writer(std::error_code& ec);

    ZSTD_CCtx_s* cctx_ = nullptr;
    sink_fn sink_;
    frame_policy policy_;
    std::vector<std::byte> sample_;  // adaptive: the start of a segment, until it is decided
    raw_frame_encoder raw_;          // stored frames
    std::byte* put_buf_ = nullptr;   // with workers: the output buffer put() is filling
    std::size_t put_len_ = 0;
    unique_fd dir_fd_;
    unique_fd fd_;
    std::filesystem::path partial_path_;
    std::string partial_name_;
    std::string final_name_;
    std::unique_ptr<std::byte[]> out_buf_;
    // With zstd workers, the compressed bytes are hashed and written on their own thread, fed
    // through `out_pipe_`; `writer_ec_` is its first error (read after it cancelled or joined).
    std::optional<chunk_pipe> out_pipe_;
    std::thread writer_;
    std::error_code writer_ec_;
    std::size_t out_cap_ = 0;
    sha256 hasher_;
    sha256_digest digest_{};
    std::uint64_t written_ = 0;
    std::uint64_t flushed_ = 0;  // bytes whose writeback has been started
    bool committed_ = false;
};

// ENOSPC/EDQUOT -> errc::no_space, EIO -> errc::io_error, else the system error.
std::error_code write_error(int err);

}  // namespace labsync::verifier::detail
