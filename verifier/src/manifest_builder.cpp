#include "labsync/verifier/manifest_builder.hpp"

#include "labsync/verifier/errc.hpp"

#include "tree_lines.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>

namespace labsync::verifier {
namespace {

constexpr std::size_t min_read_size = 1u << 20;

std::error_code read_error(int err) {
    if (err == EIO) return make_error_code(errc::io_error);
    return {err, std::system_category()};
}

// Shared state of one build: the work list and the first error.
class hash_job {
public:
    // Hashes into entries[i].sha256; stats[i] is the walk's stat of entries[i].
    hash_job(int dir_fd, const path_arena& paths, std::vector<manifest_record>& entries,
             const std::vector<stat_fingerprint>& stats, const build_options& options)
        : dir_fd_(dir_fd),
          paths_(paths),
          entries_(entries),
          stats_(stats),
          options_(options),
          skipped_(entries.size(), 0) {
        for (const auto& e : entries) total_bytes_ += e.size;
        // Largest first: a big file started last would leave one thread hashing alone at the end.
        order_.resize(entries.size());
        std::iota(order_.begin(), order_.end(), std::uint32_t{0});
        std::stable_sort(order_.begin(), order_.end(),
                         [&](std::uint32_t a, std::uint32_t b) { return entries[a].size > entries[b].size; });
    }

    void run_worker(std::size_t read_size) {
        std::unique_ptr<std::byte[]> buffer(new std::byte[read_size]);
        sha256 hasher;
        for (;;) {
            if (failed_.load(std::memory_order_relaxed)) return;
            std::size_t k = next_.fetch_add(1, std::memory_order_relaxed);
            if (k >= order_.size()) return;
            hash_one(order_[k], hasher, buffer.get(), read_size);
        }
    }

    const std::vector<std::uint8_t>& skipped() const { return skipped_; }
    std::vector<walk_finding>& findings() { return findings_; }
    std::error_code error() const { return error_; }
    const std::string& error_path() const { return error_path_; }

private:
    void hash_one(std::size_t index, sha256& hasher, std::byte* buffer, std::size_t read_size) {
        manifest_record& file = entries_[index];
        const std::string_view path = paths_.get(file.path);
        const std::int64_t walk_mtime = stats_[index].mtime_ns;
        if (options_.before_open) options_.before_open(path);
        std::error_code ec;
        unique_fd fd = open_run_file(dir_fd_, path, ec);
        if (ec == std::errc::permission_denied) {
            // Became unreadable after the walk (or only an open can tell): a finding, as in the walk.
            std::lock_guard lock(mutex_);
            findings_.push_back(
                {finding_kind::unreadable, std::string(path), "file cannot be opened: " + ec.message()});
            skipped_[index] = 1;
            return;
        }
        if (ec) return fail(ec, path);
        struct stat before {};
        if (::fstat(fd.get(), &before) != 0) return fail(read_error(errno), path);
        if (static_cast<std::uint64_t>(before.st_size) != file.size || mtime_ns(before.st_mtim) != walk_mtime)
            return fail(make_error_code(errc::local_file_changed), path);
        ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
        std::uint64_t total = 0;
        for (;;) {
            ssize_t n = ::read(fd.get(), buffer, read_size);
            if (n < 0) {
                if (errno == EINTR) continue;
                return fail(read_error(errno), path);
            }
            if (n == 0) break;
            hasher.update(std::span<const std::byte>(buffer, static_cast<std::size_t>(n)));
            total += static_cast<std::uint64_t>(n);
            if (options_.on_progress)
                options_.on_progress(
                    hashed_.fetch_add(static_cast<std::uint64_t>(n)) + static_cast<std::uint64_t>(n),
                    total_bytes_);
            if (failed_.load(std::memory_order_relaxed)) return;
        }
        auto digest = hasher.finish();
        struct stat after {};
        if (::fstat(fd.get(), &after) != 0) return fail(read_error(errno), path);
        // A short read, a grown file or a new mtime all mean the bytes hashed are not a snapshot.
        if (total != file.size || static_cast<std::uint64_t>(after.st_size) != file.size ||
            mtime_ns(after.st_mtim) != walk_mtime)
            return fail(make_error_code(errc::local_file_changed), path);
        if (after.st_nlink == 0) return fail(make_error_code(errc::local_file_vanished), path);
        file.sha256 = digest;
    }

    void fail(std::error_code ec, std::string_view path) {
        std::lock_guard lock(mutex_);
        if (!error_) {
            error_ = ec;
            error_path_ = std::string(path);
        }
        failed_.store(true, std::memory_order_relaxed);
    }

    int dir_fd_;
    const path_arena& paths_;
    std::vector<manifest_record>& entries_;
    const std::vector<stat_fingerprint>& stats_;
    const build_options& options_;
    std::vector<std::uint32_t> order_;  // 4 bytes per file: runs hold far fewer than 2^32 files
    std::vector<std::uint8_t> skipped_;
    std::atomic<std::size_t> next_{0};
    std::uint64_t total_bytes_ = 0;
    std::atomic<std::uint64_t> hashed_{0};
    std::atomic<bool> failed_{false};
    std::mutex mutex_;
    std::vector<walk_finding> findings_;
    std::error_code error_;
    std::string error_path_;
};

}  // namespace

build_result build_manifest(const std::filesystem::path& run_dir, const build_options& options) {
    build_result result;
    unique_fd dir = open_run_dir(run_dir, result.error);
    if (!dir) return result;
    walk_result walk = walk_run(dir.get());
    if (walk.error) {
        result.error = walk.error;
        result.error_path = walk.error_path;
        return result;
    }
    result.findings = std::move(walk.findings);
    result.directories = std::move(walk.directories);
    result.walk_started_ns = walk.started_ns;

    // The walk's arena and stats become the manifest's paths and the fingerprints as they are;
    // only its 24-byte records are dropped (after the manifest's 48-byte records are made).
    std::vector<manifest_record> entries;
    entries.reserve(walk.files.size());
    for (std::size_t i = 0; i < walk.files.size(); ++i)
        entries.push_back({walk.files.path_of(i), walk.files.fingerprints()[i].size, {}});
    result.fingerprints = walk.files.take_fingerprints();
    path_arena paths = walk.files.take_paths();

    hash_job job(dir.get(), paths, entries, result.fingerprints, options);
    unsigned threads =
        options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    threads = static_cast<unsigned>(std::min<std::size_t>(threads, std::max<std::size_t>(entries.size(), 1)));
    std::size_t read_size = std::max(options.read_size, min_read_size);
    if (threads == 1) {
        job.run_worker(read_size);
    } else {
        std::vector<std::jthread> pool;
        pool.reserve(threads);
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([&job, read_size] { job.run_worker(read_size); });
    }  // the jthreads join here
    if (job.error()) {
        result.error = job.error();
        result.error_path = job.error_path();
        result.findings.clear();
        result.directories.clear();
        result.fingerprints.clear();
        return result;
    }
    // Files found unreadable at open time are findings, not entries.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < entries.size(); ++i)
        if (job.skipped()[i] == 0) {
            if (kept != i) {  // no self-move
                entries[kept] = entries[i];
                result.fingerprints[kept] = result.fingerprints[i];
            }
            ++kept;
        }
    entries.resize(kept);
    result.fingerprints.resize(kept);
    for (auto& f : job.findings()) result.findings.push_back(std::move(f));
    std::sort(result.findings.begin(), result.findings.end(),
              [](const auto& a, const auto& b) { return a.path < b.path; });
    result.manifest = verifier::manifest(std::move(paths), std::move(entries));  // in the walk's order
    return result;
}

sha256_digest tree_digest(const build_result& result) {
    sha256 h;
    h.update("files " + to_hex(result.manifest.digest()) + "\n");
    detail::hash_tree_shape(h, result.directories, result.findings, false);
    return h.finish();
}

}  // namespace labsync::verifier
