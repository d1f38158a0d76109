#include "labsync/verifier/archive_writer.hpp"

#include "chunk_pipe.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/sha256.hpp"
#include "labsync/verifier/tar_header.hpp"
#include "zstd_output.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>

namespace labsync::verifier {
namespace {

constexpr std::size_t min_read_size = 1u << 20;
constexpr std::uint64_t single_thread_below = 4u << 20;
// Buffers (of 2 x read_size) between the reading and the compressing thread. Slack matters on
// a busy machine: with 3 a descheduled stage soon stalls the other; 8 measured ~6 % faster
// (wall, same CPU) with the machine loaded.
constexpr std::size_t pipe_slots = 4;

std::error_code read_error(int err) {
    if (err == EIO) return make_error_code(errc::io_error);
    return {err, std::system_category()};
}

// One member in archive order: a directory (index into walk.directories) or a file.
struct member_ref {
    const std::string* path;
    bool directory;
    std::size_t index;
};

class packer {
public:
    // `sink` null: into the file `out_path`; else to the sink (`out_path` only names it in messages).
    packer(const std::filesystem::path& run_dir, const std::filesystem::path& out_path,
           const archive_sink* sink, const pack_options& options, pack_result& result)
        : run_dir_(run_dir), out_path_(out_path), sink_(sink), options_(options), result_(result) {
        read_size_ = std::max(options.read_size, min_read_size);
        // Room for one full read after up to read_size bytes of queued headers and small files.
        staging_cap_ = 2 * read_size_;
    }

    void run() {
        run_fd_ = open_run_dir(run_dir_, result_.error);
        if (!run_fd_) return fail_input(result_.error, "", "cannot open the run directory");
        walk_result walk = walk_run(run_fd_.get());
        if (walk.error) return fail_input(walk.error, walk.error_path, "cannot walk the run");
        result_.findings = std::move(walk.findings);
        result_.directories = walk.directories;
        result_.walk_started_ns = walk.started_ns;
        for (const auto& f : walk.files)
            if (f.path == archive_manifest_path)
                return fail_input(make_error_code(errc::unsafe_path), f.path,
                                  "the name is reserved for the archive's embedded manifest");

        // A run smaller than one zstd job gains nothing from worker threads but pays for starting
        // them (and the reading thread). The choice depends only on the input, so the output is
        // still a function of (run, options).
        std::uint64_t total = 0;
        for (const auto& f : walk.files) total += f.size;
        total_input_ = total;
        // Before any buffer of the pass exists: the manifest's records (path, size; the digest is
        // filled as each file is read) are made from the walk, whose stats become the fingerprints
        // and whose arena the manifest's paths; its own records are dropped. The tar header's mode
        // and mtime come from the fstat of the open file (its size and mtime must be the walk's).
        std::vector<manifest_record> entries;
        entries.reserve(walk.files.size());
        for (std::size_t i = 0; i < walk.files.size(); ++i)
            entries.push_back({walk.files.path_of(i), walk.files.fingerprints()[i].size, {}});
        result_.fingerprints = walk.files.take_fingerprints();
        path_arena paths = walk.files.take_paths();
        unsigned threads = total < single_thread_below ? 0 : options_.threads;
        std::error_code ec;
        if (sink_ ? !out_.open(*sink_, options_.level, threads, ec)
                  : !out_.open(out_path_, options_.level, threads, ec))
            return fail_output(ec);

        bool produced = false;
        if (threads == 0) {
            inline_buffer_.reset(new std::byte[staging_cap_]);
            staging_ = inline_buffer_.get();
            produced = produce(walk, paths, entries);
        } else {
            // Two stages, like `tar | zstd` but without copies: a reading thread (read + member
            // hash) fills buffers while this thread feeds libzstd, hashes and writes its output.
            // Neither waits for the other unless all buffers are full or empty.
            pipe_.emplace(pipe_slots, staging_cap_);
            staging_ = pipe_->acquire();
            std::error_code write_ec;
            {
                std::jthread reader([&] {
                    produced = produce(walk, paths, entries);
                    pipe_->close();
                });
                std::byte* chunk = nullptr;
                std::size_t size = 0;
                while (pipe_->next(chunk, size)) {
                    if (!write_ec && !out_.write({chunk, size}, write_ec)) pipe_->cancel();
                    pipe_->release(chunk);
                }
            }  // joins the reader
            if (write_ec) return fail_output(write_ec);
        }
        if (!produced) return abort_output();
        if (!out_.finish(ec)) return fail_output(ec);
        result_.sha256 = to_hex(out_.digest());
        result_.compressed_bytes = out_.bytes_written();
        if (!out_.commit(ec)) return fail_output(ec);
    }

private:
    // Every member, then the manifest and the end marker, into the staging buffers. Runs on the
    // reading thread (or the calling thread when zstd has no workers).
    bool produce(const walk_result& walk, path_arena& paths, std::vector<manifest_record>& entries) {
        std::int64_t newest = 0;
        // Directories and files merged in path byte order (a directory sorts before its contents).
        std::size_t d = 0, f = 0;
        while (d < walk.directories.size() || f < entries.size()) {
            bool take_dir = f == entries.size() ||
                            (d < walk.directories.size() && walk.directories[d] < paths.get(entries[f].path));
            if (take_dir) {
                if (!add_directory(walk.directories[d++], newest)) return false;
            } else {
                manifest_record& entry = entries[f];
                const stat_fingerprint& walked = result_.fingerprints[f++];
                if (!add_file(paths.get(entry.path), walked, entry.sha256, newest)) return false;
                result_.input_bytes += walked.size;
            }
        }
        result_.file_count = entries.size();
        result_.manifest = manifest(std::move(paths), std::move(entries));

        // The manifest is the last member: a streaming reader has seen every member before it.
        // Its text is streamed in 64 KiB pieces (sized first), never held whole: ~100 bytes per
        // file at the peak otherwise. Same lines as manifest::to_sha256sum().
        std::uint64_t text_size = 0;
        for (const auto& e : result_.manifest.entries()) {
            bool escaped = false;
            const auto path = escape_sha256sum_path(e.path, escaped);
            text_size += (escaped ? 1 : 0) + 2 * e.sha256.size() + 2 + path.size() + 1;
        }
        std::string block;
        append_tar_header(
            block, {std::string(archive_manifest_path), tar_entry_type::regular, text_size, newest, 0644});
        for (const auto& e : result_.manifest.entries()) {
            append_sha256sum_line(block, e);
            if (block.size() >= (1u << 16)) {
                if (!queue(block)) return false;
                block.clear();
            }
        }
        block.append(tar_padding(text_size), '\0');
        block.append(2 * tar_block_size, '\0');  // end-of-archive marker
        return queue(block) && flush_staging(true);
    }

    bool add_directory(const std::string& path, std::int64_t& newest) {
        std::error_code ec;
        unique_fd fd = open_run_subdir(run_fd_.get(), path, ec);
        struct stat st {};
        if (!ec && ::fstat(fd.get(), &st) != 0) ec = read_error(errno);
        if (ec) {
            fail_input(ec, path, "cannot open directory");
            return false;
        }
        std::int64_t mtime = st.st_mtim.tv_sec;
        newest = std::max(newest, mtime);
        std::string header;
        append_tar_header(header, {path, tar_entry_type::directory, 0, mtime, st.st_mode & 07777u});
        return queue(header);
    }

    // Reads `path` into the archive and its digest; `newest` takes its mtime.
    bool add_file(std::string_view path, const stat_fingerprint& file, sha256_digest& digest,
                  std::int64_t& newest) {
        if (options_.before_read) options_.before_read(path);
        std::error_code ec;
        unique_fd fd = open_run_file(run_fd_.get(), path, ec);
        if (ec) return fail_input(ec, path, "cannot open"), false;
        struct stat before {};
        if (::fstat(fd.get(), &before) != 0) return fail_input(read_error(errno), path, "fstat"), false;
        // The header is written from the walk's size: the file must still be exactly that.
        if (static_cast<std::uint64_t>(before.st_size) != file.size ||
            mtime_ns(before.st_mtim) != file.mtime_ns)
            return changed(path, "size or mtime differs from the directory walk"), false;
        // Read-ahead only matters for files spanning several reads; skip the syscall for the rest.
        if (file.size > read_size_) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

        const std::int64_t mtime_s = before.st_mtim.tv_sec;
        newest = std::max(newest, mtime_s);
        std::string header;
        append_tar_header(header, {std::string(path), tar_entry_type::regular, file.size, mtime_s,
                                   static_cast<std::uint32_t>(before.st_mode) & 07777u});
        if (!queue(header)) return false;

        std::uint64_t remaining = file.size;
        for (;;) {
            if (staging_cap_ - staging_used_ < read_size_ && !flush_staging()) return false;
            // Ask for one byte more than expected when there is room: a file that grew shows up
            // as extra bytes without an extra read() at the end.
            std::size_t want = static_cast<std::size_t>(
                std::min<std::uint64_t>(remaining + 1, staging_cap_ - staging_used_));
            ssize_t n = ::read(fd.get(), staging_ + staging_used_, want);
            if (n < 0) {
                if (errno == EINTR) continue;
                return fail_input(read_error(errno), path, "read"), false;
            }
            if (n == 0) break;
            auto got = static_cast<std::uint64_t>(n);
            if (got > remaining) return changed(path, "grew while being read"), false;
            hasher_.update(std::span<const std::byte>(staging_ + staging_used_, static_cast<std::size_t>(n)));
            staging_used_ += static_cast<std::size_t>(n);
            remaining -= got;
            read_input_ += got;
            if (options_.on_progress) options_.on_progress(read_input_, total_input_);
            if (remaining == 0 && want > got) break;  // a short read at the expected end: EOF
        }
        if (remaining != 0) return changed(path, "shrank while being read"), false;
        struct stat after {};
        if (::fstat(fd.get(), &after) != 0) return fail_input(read_error(errno), path, "fstat"), false;
        if (after.st_nlink == 0) {
            fail_input(make_error_code(errc::local_file_vanished), path, "deleted while being read");
            return false;
        }
        if (static_cast<std::uint64_t>(after.st_size) != file.size ||
            mtime_ns(after.st_mtim) != file.mtime_ns)
            return changed(path, "modified while being read"), false;
        static const char zeros[tar_block_size] = {};
        if (!queue(std::string_view(zeros, tar_padding(file.size)))) return false;
        digest = hasher_.finish();
        return true;
    }

    // Headers, padding and small files are gathered in the staging buffer so libzstd gets few,
    // large inputs whatever the file count.
    bool queue(std::string_view bytes) {
        while (!bytes.empty()) {
            if (staging_used_ == staging_cap_ && !flush_staging()) return false;
            std::size_t n = std::min(bytes.size(), staging_cap_ - staging_used_);
            std::memcpy(staging_ + staging_used_, bytes.data(), n);
            staging_used_ += n;
            bytes.remove_prefix(n);
        }
        return true;
    }

    bool flush_staging(bool last = false) {
        if (pipe_) {
            pipe_->submit(staging_, staging_used_);
            staging_used_ = 0;
            staging_ = last ? nullptr : pipe_->acquire();
            return last || staging_ != nullptr;  // nullptr: the writer failed and cancelled
        }
        std::error_code ec;
        if (!out_.write({staging_, staging_used_}, ec)) return fail_output(ec), false;
        staging_used_ = 0;
        return true;
    }

    void changed(std::string_view path, const char* why) {
        fail_input(make_error_code(errc::local_file_changed), path, why);
    }

    void fail_input(std::error_code ec, std::string_view path, std::string_view what) {
        if (!result_.error_message.empty()) return;  // keep the first
        result_.error = ec;
        result_.error_path = std::string(path);
        std::string where = path.empty() ? run_dir_.string() : (run_dir_ / path).string();
        result_.error_message = std::string(what) + " '" + where + "': " + ec.message();
    }

    void fail_output(std::error_code ec) {
        if (!result_.error) {
            result_.error = ec;
            result_.error_path =
                out_.partial_path().empty() ? out_path_.string() : out_.partial_path().string();
            result_.error_message = (sink_ ? "cannot send the archive of '" + run_dir_.string() + "'"
                                           : "cannot write '" + result_.error_path + "'") +
                                    ": " + ec.message();
        }
        abort_output();
    }

    void abort_output() { out_.discard(); }

    std::filesystem::path run_dir_;
    std::filesystem::path out_path_;
    const archive_sink* sink_;
    const pack_options& options_;
    pack_result& result_;
    unique_fd run_fd_;
    detail::zstd_output out_;
    sha256 hasher_;
    std::unique_ptr<std::byte[]> inline_buffer_;
    std::optional<detail::chunk_pipe> pipe_;
    std::byte* staging_ = nullptr;
    std::size_t staging_cap_ = 0;
    std::size_t staging_used_ = 0;
    std::size_t read_size_ = 0;
    std::uint64_t total_input_ = 0;  // bytes of every file the walk found
    std::uint64_t read_input_ = 0;   // of them read so far (the reading thread only)
};

pack_result finish_result(pack_result result) {
    if (!result.ok()) {
        result.manifest = {};
        result.sha256.clear();
        result.compressed_bytes = 0;
    }
    return result;
}

}  // namespace

pack_result pack_run(const std::filesystem::path& run_dir, const std::filesystem::path& out_path,
                     const pack_options& options) {
    pack_result result;
    packer(run_dir, out_path, nullptr, options, result).run();
    return finish_result(std::move(result));
}

pack_result pack_run(const std::filesystem::path& run_dir, const archive_sink& sink,
                     const pack_options& options) {
    pack_result result;
    packer(run_dir, {}, &sink, options, result).run();
    return finish_result(std::move(result));
}

}  // namespace labsync::verifier
