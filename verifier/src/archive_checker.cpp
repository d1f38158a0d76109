#include "labsync/verifier/archive_checker.hpp"

#include "decoded_pipeline.hpp"
#include "frame_pipeline.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/unique_fd.hpp"
#include "tar_stream_parser.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace labsync::verifier {

class archive_checker::impl {
public:
    impl(bool hash_stream, archive_check_threads threads)
        : hash_stream_(hash_stream), dctx_(ZSTD_createDCtx()) {
        if (dctx_ == nullptr) throw std::bad_alloc();
        // The decoder's window is its memory: cap it at what levels 1..19 use (no --long),
        // instead of libzstd's 128 MiB, so a crafted archive cannot make the check hold more.
        ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, max_window_log);
        if (threads == archive_check_threads::two)
            pipe_ = std::make_unique<detail::decoded_pipeline>(
                pipeline_slots, slot_size,
                [this](const std::byte* p, std::size_t n) { return tar_.consume(p, n); });
        else
            out_.reset(new std::byte[out_size]);
    }
    impl(bool hash_stream, parallel_frames frames) : hash_stream_(hash_stream), dctx_(nullptr) {
        detail::frame_pipeline::limits lim;
        lim.decoders = frames.decoders;
        lim.own_slots = pipeline_slots;
        lim.slot_size = slot_size;
        lim.call_size = out_size;
        lim.window_log_max = max_window_log;
        frames_ = std::make_unique<detail::frame_pipeline>(
            lim, std::move(frames.budget),
            [this](const std::byte* p, std::size_t n) { return tar_.consume(p, n); });
    }
    ~impl() { ZSTD_freeDCtx(dctx_); }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    std::error_code feed(std::span<const std::byte> data) {
        if (finished_) throw std::logic_error("archive_checker::feed after finish");
        if (hash_stream_) whole_.update(data);
        bytes_fed_ += data.size();
        if (error_) return error_;
        if (frames_) return frames_->feed(data) ? std::error_code{} : take_frames_error();
        if (pipe_ && pipe_->failed() && worker_failed()) return error_;
        ZSTD_inBuffer in{data.data(), data.size(), 0};
        for (;;) {
            if (in.pos == in.size && !output_pending_) break;
            std::byte* buf = pipe_ ? slot_for_next_call() : out_.get();
            if (buf == nullptr) {  // the worker failed
                worker_failed();
                return error_;
            }
            ZSTD_outBuffer out{buf, out_size, 0};
            std::size_t r = ZSTD_decompressStream(dctx_, &out, &in);
            if (ZSTD_isError(r)) {
                hand_over();  // without what this call decoded, as in one thread
                return fail_stream(std::string("zstd: ") + ZSTD_getErrorName(r));
            }
            // A full output buffer may hide more decoded bytes: call again even without input.
            // r == 0: a frame ended (the archive may hold several; the next starts with the next
            // input byte, and a skippable frame is skipped).
            frame_done_ = r == 0;
            output_pending_ = !frame_done_ && out.pos == out.size;
            if (pipe_) {
                slot_fill_ += out.pos;
                if (pipe_->slot_size() - slot_fill_ < out_size) hand_over();
            } else if (out.pos > 0 && !tar_.consume(out_.get(), out.pos)) {
                return take_tar_error();
            }
        }
        hand_over();  // the worker walks it while the caller fetches the next chunk
        return {};
    }

    std::error_code finish() {
        if (finished_) return error_;
        finished_ = true;
        if (hash_stream_) sha256_ = to_hex(whole_.finish());
        if (pipe_) worker_failed();  // waits for the worker: from here on tar_ is ours
        if (frames_ && frames_->finish() != detail::frame_pipeline::outcome::complete) take_frames_error();
        if (error_) return error_;
        if (!frames_ && !frame_done_)
            return fail(make_error_code(errc::archive_corrupt), "",
                        "truncated zstd stream (frame not complete)");
        if (!tar_.finish()) return take_tar_error();
        if (!tar_.manifest_seen())
            return fail(make_error_code(errc::manifest_missing), "",
                        "the archive has no '.labsync/manifest.sha256' member");
        std::error_code ec;
        std::string why;
        manifest_ = manifest::parse_sha256sum(tar_.manifest_text(), ec, &why);
        if (ec) return fail(ec, ".labsync/manifest.sha256", "embedded manifest is malformed: " + why);
        return compare();
    }

    std::uint64_t members_seen() {
        if (pipe_) worker_failed();
        if (frames_) frames_->drain();
        return tar_.members_seen();
    }

    std::error_code fail(std::error_code ec, std::string path, std::string reason) {
        if (!error_) {
            error_ = ec;
            path_ = std::move(path);
            reason_ = std::move(reason);
        }
        return error_;
    }

    std::error_code error_;
    std::string path_;
    std::string reason_;
    std::string sha256_;
    std::uint64_t bytes_fed_ = 0;
    std::uint64_t files_checked_ = 0;
    verifier::manifest manifest_;
    detail::tar_stream_parser tar_;

private:
    static constexpr int max_window_log = 23;  // 8 MiB
    static constexpr std::size_t out_size = 256u << 10;

    // Decoded bytes in flight per checker: 4 × 512 KiB (two zstd calls per slot).
    static constexpr std::size_t pipeline_slots = 4;
    static constexpr std::size_t slot_size = 2 * out_size;

    std::error_code take_tar_error() { return fail(tar_.error(), tar_.error_path(), tar_.error_reason()); }

    // Waits until the worker has consumed every chunk handed to it; true (with its error taken)
    // when the tar walk failed. Afterwards tar_ may be read on this thread.
    bool worker_failed() {
        if (pipe_->drain()) return false;
        take_tar_error();
        return true;
    }

    // Two threads: each zstd call decodes at most out_size bytes, as in one thread, into the
    // free part of a pipeline slot; a slot goes to the worker when the next call might not fit,
    // at the end of each feed() and before an error is reported.
    std::byte* slot_for_next_call() {
        if (slot_ == nullptr) {
            slot_ = pipe_->acquire();
            slot_fill_ = 0;
            if (slot_ == nullptr) return nullptr;
        }
        return slot_ + slot_fill_;
    }
    void hand_over() {
        if (pipe_ && slot_ != nullptr) {
            pipe_->push(slot_fill_);
            slot_ = nullptr;
        }
    }

    // An error of the compressed stream itself. With the worker, the bytes decoded before it
    // are walked first: an earlier tar error wins, exactly as in one thread.
    // The member named is the one being decoded (or the last one decoded, "after" it).
    std::error_code fail_stream(std::string reason) {
        if (pipe_ && worker_failed()) return error_;
        auto [path, inside] = tar_.position();
        if (!inside && !path.empty()) reason += " (after this member)";
        return fail(make_error_code(errc::archive_corrupt), std::move(path), std::move(reason));
    }

    // Parallel frames, once the walk stopped (the walker no longer touches tar_).
    std::error_code take_frames_error() {
        switch (frames_->current()) {
            case detail::frame_pipeline::outcome::consumer_failed:
                return take_tar_error();
            case detail::frame_pipeline::outcome::zstd_error:
                return fail_stream(frames_->zstd_error());
            case detail::frame_pipeline::outcome::truncated:
                return fail(make_error_code(errc::archive_corrupt), "",
                            "truncated zstd stream (frame not complete)");
            default:
                return error_;
        }
    }

    // Both sides sorted by path; the first difference in path order is reported.
    std::error_code compare() {
        auto& files = tar_.files();
        std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
        auto mismatch = [&](std::string_view path, std::string what) {
            return fail(make_error_code(errc::member_mismatch), std::string(path), std::move(what));
        };
        for (std::size_t i = 1; i < files.size(); ++i)
            if (files[i].path == files[i - 1].path) return mismatch(files[i].path, "member appears twice");
        const auto& listed = manifest_.entries();
        std::size_t a = 0, m = 0;
        while (a < files.size() || m < listed.size()) {
            if (m == listed.size() || (a < files.size() && files[a].path < listed[m].path))
                return mismatch(files[a].path, "member is not listed in the manifest");
            if (a == files.size() || listed[m].path < files[a].path)
                return mismatch(listed[m].path, "listed in the manifest but missing from the archive");
            if (listed[m].size != 0 && listed[m].size != files[a].size)
                return mismatch(files[a].path, "size differs: manifest " + std::to_string(listed[m].size) +
                                                   ", member " + std::to_string(files[a].size));
            if (listed[m].sha256 != files[a].digest)
                return mismatch(files[a].path, "sha256 differs: manifest " + to_hex(listed[m].sha256) +
                                                   ", member " + to_hex(files[a].digest));
            ++a;
            ++m;
        }
        files_checked_ = files.size();
        return {};
    }

    bool hash_stream_;
    ZSTD_DCtx* dctx_;
    std::unique_ptr<std::byte[]> out_;  // one thread: the decoded buffer
    // Two threads: decoded buffers in flight to the worker walking tar_. Declared after tar_
    // (and destroyed before it) since the worker uses it.
    std::unique_ptr<detail::decoded_pipeline> pipe_;
    std::unique_ptr<detail::frame_pipeline> frames_;  // parallel frames: decoders and walker
    std::byte* slot_ = nullptr;                       // the slot being filled, not yet handed over
    std::size_t slot_fill_ = 0;
    verifier::sha256 whole_;
    bool output_pending_ = false;
    bool frame_done_ = false;
    bool finished_ = false;
};

archive_checker::archive_checker(bool hash_stream, archive_check_threads threads)
    : impl_(std::make_unique<impl>(hash_stream, threads)) {}
archive_checker::archive_checker(bool hash_stream, parallel_frames frames)
    : impl_(std::make_unique<impl>(hash_stream, std::move(frames))) {}
archive_checker::~archive_checker() = default;
archive_checker::archive_checker(archive_checker&&) noexcept = default;
archive_checker& archive_checker::operator=(archive_checker&&) noexcept = default;

std::error_code archive_checker::feed(std::span<const std::byte> data) {
    return impl_->feed(data);
}
std::error_code archive_checker::finish() {
    return impl_->finish();
}
std::error_code archive_checker::error() const noexcept {
    return impl_->error_;
}
const std::string& archive_checker::error_path() const noexcept {
    return impl_->path_;
}
const std::string& archive_checker::error_reason() const noexcept {
    return impl_->reason_;
}
std::uint64_t archive_checker::bytes_fed() const noexcept {
    return impl_->bytes_fed_;
}
const std::string& archive_checker::sha256() const noexcept {
    return impl_->sha256_;
}
std::uint64_t archive_checker::members_seen() const {
    return impl_->members_seen();
}
std::uint64_t archive_checker::files_checked() const noexcept {
    return impl_->files_checked_;
}
const verifier::manifest& archive_checker::embedded_manifest() const noexcept {
    return impl_->manifest_;
}

archive_check_result check_archive_file(const std::filesystem::path& path) {
    archive_check_result result;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        int err = errno;
        result.error = {err, std::system_category()};
        result.error_path = path.string();
        result.error_reason = "cannot open the archive";
        return result;
    }
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    constexpr std::size_t read_size = 1u << 20;
    std::unique_ptr<std::byte[]> buffer(new std::byte[read_size]);
    archive_checker checker;
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer.get(), read_size);
        if (n < 0) {
            if (errno == EINTR) continue;
            int err = errno;
            result.error =
                err == EIO ? make_error_code(errc::io_error) : std::error_code(err, std::system_category());
            result.error_path = path.string();
            result.error_reason = "cannot read the archive";
            return result;
        }
        if (n == 0) break;
        // Keep reading after a checker error: sha256 and bytes still describe the whole file.
        checker.feed({buffer.get(), static_cast<std::size_t>(n)});
    }
    result.error = checker.finish();
    result.error_path = checker.error_path();
    result.error_reason = checker.error_reason();
    result.sha256 = checker.sha256();
    result.bytes = checker.bytes_fed();
    result.members = checker.members_seen();
    result.files = checker.files_checked();
    return result;
}

}  // namespace labsync::verifier
