#include "zstd_output.hpp"

#include "labsync/verifier/errc.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace labsync::verifier::detail {
namespace {

constexpr std::size_t out_buffer_size = 1u << 20;
constexpr std::uint64_t writeback_window = 8u << 20;
// Output buffers in flight between the compressing and the writing thread.
constexpr std::size_t out_slots = 4;
constexpr std::size_t job_size = 2u << 20;

std::error_code zstd_error(std::size_t code) {
    // Compression only fails on resource exhaustion or misuse; report it as an I/O failure of
    // the archive rather than inventing a code per zstd error.
    (void)code;
    return make_error_code(errc::io_error);
}

}  // namespace

std::error_code write_error(int err) {
    if (err == ENOSPC || err == EDQUOT) return make_error_code(errc::no_space);
    if (err == EIO) return make_error_code(errc::io_error);
    return {err, std::system_category()};
}

zstd_output::zstd_output() = default;

zstd_output::~zstd_output() {
    std::error_code ignored;
    stop_writer(ignored);
    discard();
    ZSTD_freeCCtx(cctx_);
}

bool zstd_output::open(const std::filesystem::path& out, int level, unsigned threads, std::error_code& ec,
                       std::uint64_t frame_bytes) {
    policy_ = frame_policy(level, frame_bytes);
    std::filesystem::path dir = out.parent_path();
    if (dir.empty()) dir = ".";
    final_name_ = out.filename().string();
    partial_name_ = final_name_ + ".partial";
    partial_path_ = out.string() + ".partial";
    if (final_name_.empty()) {
        ec = std::make_error_code(std::errc::is_a_directory);
        return false;
    }
    dir_fd_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd_) {
        ec = {errno, std::system_category()};
        return false;
    }
    fd_.reset(::openat(dir_fd_.get(), partial_name_.c_str(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd_) {
        ec = write_error(errno);
        return false;
    }
    return setup(threads, ec);
}

bool zstd_output::open(sink_fn sink, int level, unsigned threads, std::error_code& ec,
                       std::uint64_t frame_bytes) {
    policy_ = frame_policy(level, frame_bytes);
    sink_ = std::move(sink);
    return setup(threads, ec);
}

bool zstd_output::setup(unsigned threads, std::error_code& ec) {
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) {
        ec = std::make_error_code(std::errc::not_enough_memory);
        return false;
    }
    std::size_t r = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, policy_.zstd_level());
    if (ZSTD_isError(r)) {
        ec = std::make_error_code(std::errc::invalid_argument);
        return false;
    }
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
    // A libzstd built without threads refuses nbWorkers: compress on this thread then.
    if (threads > 0) {
        ZSTD_CCtx_setParameter(cctx_, ZSTD_c_nbWorkers, static_cast<int>(threads));
        // Smaller jobs than libzstd's default (4 x window) bound the buffers it keeps in flight,
        // which dominate the packer's peak memory; the ratio loss is negligible at these levels.
        ZSTD_CCtx_setParameter(cctx_, ZSTD_c_jobSize, static_cast<int>(job_size));
    }
    out_cap_ = out_buffer_size;
    if (threads > 0) {
        out_pipe_.emplace(out_slots, out_cap_);
        writer_ = std::thread([this] { writer_loop(); });
    } else {
        out_buf_.reset(new std::byte[out_cap_]);
    }
    return true;
}

bool zstd_output::write(std::span<const std::byte> data, std::error_code& ec) {
    while (!data.empty()) {
        if (policy_.at_segment_start()) {
            if (policy_.adaptive()) {  // gather the sample before deciding
                std::size_t take = std::min(data.size(), policy_.sample_size() - sample_.size());
                sample_.insert(sample_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
                data = data.subspan(take);
                if (sample_.size() < policy_.sample_size()) return true;
            }
            if (!start_segment(sample_, ec)) return false;
            continue;
        }
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(data.size(), policy_.room()));
        if (!encode(data.first(n), ec)) return false;
        data = data.subspan(n);
    }
    return true;
}

bool zstd_output::finish(std::error_code& ec) {
    // A sample still waiting for its decision, or no input at all: one (last) segment.
    if ((!sample_.empty() || !policy_.frame_open()) && !start_segment(sample_, ec)) return false;
    if (!end_frame(policy_.mode(), ec)) return false;
    if (!stop_writer(ec)) return false;
    digest_ = hasher_.finish();
    return true;
}

bool zstd_output::start_segment(std::span<const std::byte> sample, std::error_code& ec) {
    bool was_open = policy_.frame_open();
    frame_mode previous = policy_.mode();
    auto step = policy_.start_segment(sample);
    if (step.end_frame_first && !end_frame(previous, ec)) return false;
    if (step.mode == frame_mode::store && (!was_open || step.end_frame_first) &&
        !put(raw_frame_encoder::header(), ec))
        return false;
    if (!sample.empty()) {
        if (!encode(sample, ec)) return false;
        sample_.clear();
    }
    return true;
}

bool zstd_output::encode(std::span<const std::byte> data, std::error_code& ec) {
    policy_.consumed(data.size());
    if (policy_.mode() == frame_mode::compress) return drain(data.data(), data.size(), ZSTD_e_continue, ec);
    return raw_.add(data, [&](std::span<const std::byte> bytes) { return put(bytes, ec); });
}

bool zstd_output::end_frame(frame_mode mode, std::error_code& ec) {
    if (mode == frame_mode::compress) return drain(nullptr, 0, ZSTD_e_end, ec);
    if (!raw_.end([&](std::span<const std::byte> bytes) { return put(bytes, ec); })) return false;
    flush_put();  // libzstd's output, or the end, comes next
    return true;
}

bool zstd_output::put(std::span<const std::byte> data, std::error_code& ec) {
    if (!out_pipe_) return data.empty() || write_all(data.data(), data.size(), ec);
    while (!data.empty()) {
        if (put_buf_ == nullptr) {
            put_buf_ = out_pipe_->acquire();
            put_len_ = 0;
            if (put_buf_ == nullptr) {  // the writer failed and cancelled
                ec = writer_ec_;
                return false;
            }
        }
        std::size_t n = std::min(data.size(), out_cap_ - put_len_);
        std::memcpy(put_buf_ + put_len_, data.data(), n);
        put_len_ += n;
        data = data.subspan(n);
        if (put_len_ == out_cap_) flush_put();
    }
    return true;
}

void zstd_output::flush_put() {
    if (put_buf_ == nullptr) return;
    if (put_len_ > 0)
        out_pipe_->submit(put_buf_, put_len_);
    else
        out_pipe_->release(put_buf_);
    put_buf_ = nullptr;
    put_len_ = 0;
}

bool zstd_output::drain(const void* in, std::size_t size, int directive, std::error_code& ec) {
    ZSTD_inBuffer input{in, size, 0};
    auto mode = static_cast<ZSTD_EndDirective>(directive);
    for (;;) {
        std::byte* buf = out_pipe_ ? out_pipe_->acquire() : out_buf_.get();
        if (buf == nullptr) {  // the writer failed and cancelled
            ec = writer_ec_;
            return false;
        }
        ZSTD_outBuffer output{buf, out_cap_, 0};
        std::size_t r = ZSTD_compressStream2(cctx_, &output, &input, mode);
        if (ZSTD_isError(r)) {
            if (out_pipe_) out_pipe_->release(buf);
            ec = zstd_error(r);
            return false;
        }
        if (out_pipe_) {
            if (output.pos > 0)
                out_pipe_->submit(buf, output.pos);
            else
                out_pipe_->release(buf);
        } else if (output.pos > 0 && !write_all(buf, output.pos, ec)) {
            return false;
        }
        if (mode == ZSTD_e_end ? r == 0 : input.pos == input.size) return true;
    }
}

bool zstd_output::write_all(const std::byte* data, std::size_t size, std::error_code& ec) {
    hasher_.update(std::span<const std::byte>(data, size));
    if (sink_) {
        ec = sink_(std::span<const std::byte>(data, size));
        if (!ec) written_ += size;
        return !ec;
    }
    while (size > 0) {
        ssize_t n = ::write(fd_.get(), data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            ec = write_error(errno);
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
        written_ += static_cast<std::uint64_t>(n);
    }
    // Start writeback of every full window as soon as it is written, so the disk works while we
    // compress and the final fsync only waits for the tail (it took ~10 % of the wall time
    // otherwise). Asynchronous: this does not wait for the disk; fsync still decides durability.
    while (written_ - flushed_ >= writeback_window) {
        ::sync_file_range(fd_.get(), static_cast<off_t>(flushed_), writeback_window, SYNC_FILE_RANGE_WRITE);
        flushed_ += writeback_window;
    }
    return true;
}

void zstd_output::writer_loop() {
    std::byte* chunk = nullptr;
    std::size_t size = 0;
    while (out_pipe_->next(chunk, size)) {
        if (!writer_ec_ && !write_all(chunk, size, writer_ec_)) out_pipe_->cancel();
        out_pipe_->release(chunk);
    }
}

bool zstd_output::stop_writer(std::error_code& ec) {
    if (!writer_.joinable()) return true;
    out_pipe_->close();
    writer_.join();
    if (writer_ec_) {
        ec = writer_ec_;
        return false;
    }
    return true;
}

bool zstd_output::commit(std::error_code& ec) {
    if (sink_) return true;
    if (::fsync(fd_.get()) != 0) {
        ec = write_error(errno);
        return false;
    }
    // close() can report a deferred write error (NFS and friends): check it before the rename.
    int fd = fd_.release();
    if (::close(fd) != 0 && errno != EINTR) {
        ec = write_error(errno);
        return false;
    }
    if (::renameat(dir_fd_.get(), partial_name_.c_str(), dir_fd_.get(), final_name_.c_str()) != 0) {
        ec = write_error(errno);
        return false;
    }
    committed_ = true;
    if (::fsync(dir_fd_.get()) != 0) {
        ec = write_error(errno);
        return false;
    }
    return true;
}

void zstd_output::discard() noexcept {
    if (writer_.joinable()) {
        out_pipe_->cancel();
        std::error_code ignored;
        stop_writer(ignored);
    }
    if (committed_ || partial_name_.empty() || !dir_fd_) return;
    fd_.reset();
    ::unlinkat(dir_fd_.get(), partial_name_.c_str(), 0);
    partial_name_.clear();
}

}  // namespace labsync::verifier::detail
