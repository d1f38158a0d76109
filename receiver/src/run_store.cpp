#include "labsync/receiver/run_store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <vector>

namespace labsync::receiver {
namespace fs = std::filesystem;
namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

std::string now_rfc3339(std::chrono::system_clock::time_point t) {
    auto secs = std::chrono::floor<std::chrono::seconds>(t);
    return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", secs);
}

std::error_code fsync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}

std::error_code write_all(int fd, const std::byte* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return {};
}

// Hashes an existing file (sidecar repair, verification). nullopt with ec clear when it is
// absent, or when `cancel` was set (then *cancelled = true).
std::optional<stored_run> hash_file(const fs::path& path, std::error_code& ec,
                                    const std::atomic<bool>* cancel = nullptr, bool* cancelled = nullptr) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR) ec = last_error();
        return std::nullopt;
    }
    struct stat st {};
    ::fstat(fd, &st);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    verifier::sha256 hash;
    std::vector<std::byte> buf(1 << 20);
    std::uint64_t total = 0;
    for (;;) {
        if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
            if (cancelled != nullptr) *cancelled = true;
            ::close(fd);
            return std::nullopt;
        }
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            ec = last_error();
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0) break;
        hash.update(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
        total += static_cast<std::uint64_t>(n);
    }
    ::close(fd);
    stored_run out;
    out.sha256 = verifier::to_hex(hash.finish());
    out.bytes = total;
    out.stored_at =
        now_rfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec)));
    out.client = "unknown (sidecar repaired)";
    return out;
}

// The sidecar as recorded; nullopt when it is missing or unreadable.
std::optional<stored_run> read_sidecar(const fs::path& side) {
    int fd = ::open(side.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return parse_sidecar(text);
}

std::atomic<std::uint64_t> temp_counter{0};

}  // namespace

std::string rfc3339_now() {
    return now_rfc3339(std::chrono::system_clock::now());
}

std::string sidecar_json(const stored_run& run) {
    nlohmann::json j{
        {"sha256", run.sha256},
        {"bytes", run.bytes},
        {"stored_at", run.stored_at},
        {"code_commit", run.code_commit.empty() ? nlohmann::json(nullptr) : nlohmann::json(run.code_commit)},
        {"client", run.client}};
    return j.dump(2) + "\n";
}

std::optional<stored_run> parse_sidecar(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::nullopt;
    stored_run out;
    if (!j.contains("sha256") || !j["sha256"].is_string() || !j.contains("bytes") ||
        !j["bytes"].is_number_unsigned()) {
        return std::nullopt;
    }
    out.sha256 = j["sha256"].get<std::string>();
    out.bytes = j["bytes"].get<std::uint64_t>();
    if (j.contains("stored_at") && j["stored_at"].is_string())
        out.stored_at = j["stored_at"].get<std::string>();
    if (j.contains("code_commit") && j["code_commit"].is_string())
        out.code_commit = j["code_commit"].get<std::string>();
    if (j.contains("client") && j["client"].is_string()) out.client = j["client"].get<std::string>();
    return out;
}

upload_file::upload_file(int fd, fs::path named_path) : fd_(fd), named_path_(std::move(named_path)) {}

upload_file::~upload_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!named_path_.empty()) ::unlink(named_path_.c_str());
}

std::error_code upload_file::append(std::span<const std::byte> data) {
    hash_.update(data);
    if (auto ec = write_all(fd_, data.data(), data.size())) return ec;
    bytes_ += data.size();
    // Start writeback as the body arrives so the fsync before publishing only waits for the
    // tail (as the packer does). Asynchronous: durability is still decided by that fsync.
    while (bytes_ - flushed_ >= writeback_window) {
        ::sync_file_range(fd_, static_cast<off_t>(flushed_), writeback_window, SYNC_FILE_RANGE_WRITE);
        flushed_ += writeback_window;
    }
    return {};
}

std::error_code upload_file::reserve(std::uint64_t bytes) {
    if (bytes == 0) return {};
    // KEEP_SIZE: the file grows only by what is written, so a short body stays detectable.
    if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) != 0) {
        if (errno == EOPNOTSUPP || errno == ENOSYS) return {};
        return last_error();
    }
    return {};
}

std::optional<run_store> run_store::open(const fs::path& root, std::string& error) {
    std::error_code ec;
    fs::create_directories(root / ".tmp", ec);
    if (ec) {
        error = fmt::format("store {}: cannot create {}: {}", root.string(), (root / ".tmp").string(),
                            ec.message());
        return std::nullopt;
    }
    // Named temp files (filesystems without O_TMPFILE) carry their writer's pid; remove those of
    // processes that are gone. Other receivers sharing the store keep theirs.
    for (const auto& entry : fs::directory_iterator(root / ".tmp", ec)) {
        auto name = entry.path().filename().string();
        int pid = 0;
        if (std::sscanf(name.c_str(), "upload.%d.", &pid) == 1 ||
            std::sscanf(name.c_str(), "sidecar.%d.", &pid) == 1) {
            if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(entry.path(), ec);
        }
    }
    return run_store(fs::absolute(root));
}

std::optional<std::uint64_t> run_store::free_bytes() const noexcept {
    struct statvfs st {};
    if (::statvfs(root_.c_str(), &st) != 0) return std::nullopt;
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

std::optional<stored_run> run_store::lookup(const std::string& equipment, const std::string& run,
                                            std::error_code& ec) const {
    ec.clear();
    fs::path dir = root_ / equipment;
    fs::path data = dir / (run + ".tar.zst");
    struct stat st {};
    if (::stat(data.c_str(), &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) ec = last_error();
        return std::nullopt;
    }
    if (auto parsed = read_sidecar(dir / (run + ".json"));
        parsed && parsed->bytes == static_cast<std::uint64_t>(st.st_size)) {
        return parsed;
    }
    // Data without a (valid) sidecar: the publisher died between link and sidecar, or is just
    // writing it. The data is complete by construction, so hash it and write the sidecar.
    auto repaired = hash_file(data, ec);
    if (!repaired) return std::nullopt;
    if (auto wec = write_sidecar(dir, run, *repaired)) ec = wec;
    return repaired;
}

verify_report run_store::verify(const std::string& equipment, const std::string& run,
                                const std::atomic<bool>* cancel, std::error_code& ec) const {
    ec.clear();
    verify_report out;
    const fs::path dir = root_ / equipment;
    // The record first: a sidecar written while we hash belongs to the bytes we read.
    auto recorded = read_sidecar(dir / (run + ".json"));
    bool cancelled = false;
    auto actual = hash_file(dir / (run + ".tar.zst"), ec, cancel, &cancelled);
    if (cancelled) {
        out.outcome = verify_outcome::cancelled;
        return out;
    }
    if (!actual) return out;  // absent, or ec
    if (!recorded) {
        // Data without a sidecar is complete by construction (see the header): repair it.
        if (auto wec = write_sidecar(dir, run, *actual)) ec = wec;
        recorded = *actual;
    }
    out.recorded = *recorded;
    out.actual_sha256 = actual->sha256;
    out.actual_bytes = actual->bytes;
    out.outcome = recorded->sha256 == actual->sha256 && recorded->bytes == actual->bytes
                      ? verify_outcome::match
                      : verify_outcome::mismatch;
    return out;
}

std::unique_ptr<upload_file> run_store::begin_upload(std::error_code& ec) const {
    ec.clear();
    fs::path tmp = root_ / ".tmp";
    int fd = ::open(tmp.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0640);
    if (fd >= 0) return std::make_unique<upload_file>(fd, fs::path{});
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        ec = last_error();
        return nullptr;
    }
    fs::path named = tmp / fmt::format("upload.{}.{}", ::getpid(), temp_counter.fetch_add(1));
    fd = ::open(named.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) {
        ec = last_error();
        return nullptr;
    }
    return std::make_unique<upload_file>(fd, named);
}

std::error_code run_store::write_sidecar(const fs::path& dir, const std::string& run,
                                         const stored_run& meta) const {
    fs::path tmp = root_ / ".tmp" / fmt::format("sidecar.{}.{}", ::getpid(), temp_counter.fetch_add(1));
    int fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) return last_error();
    std::string text = sidecar_json(meta);
    std::error_code ec = write_all(fd, reinterpret_cast<const std::byte*>(text.data()), text.size());
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    if (!ec && ::rename(tmp.c_str(), (dir / (run + ".json")).c_str()) != 0) ec = last_error();
    if (ec) {
        ::unlink(tmp.c_str());
        return ec;
    }
    return fsync_dir(dir);
}

// Puts the (fsynced) upload in place of a damaged stored archive: linked to a temp name, then
// renamed over the final name, so the name never points at partial data.
std::error_code run_store::replace_data(upload_file& file, const fs::path& final_path) const {
    fs::path tmp = file.named_path_;
    if (tmp.empty()) {
        tmp = root_ / ".tmp" / fmt::format("upload.{}.{}", ::getpid(), temp_counter.fetch_add(1));
        auto proc = fmt::format("/proc/self/fd/{}", file.fd_);
        if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) != 0)
            return last_error();
    }
    if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
        auto ec = last_error();
        ::unlink(tmp.c_str());
        return ec;
    }
    file.named_path_.clear();
    return fsync_dir(final_path.parent_path());
}

publish_outcome run_store::publish(upload_file& file, const std::string& equipment, const std::string& run,
                                   const stored_run& meta, stored_run& existing, std::error_code& ec) const {
    ec.clear();
    if (::fsync(file.fd_) != 0) {
        ec = last_error();
        return publish_outcome::divergent;
    }
    fs::path dir = root_ / equipment;
    if (::mkdir(dir.c_str(), 0750) == 0) {
        if ((ec = fsync_dir(root_))) return publish_outcome::divergent;
    } else if (errno != EEXIST) {
        ec = last_error();
        return publish_outcome::divergent;
    }
    fs::path final_path = dir / (run + ".tar.zst");
    int rc;
    if (file.named_path_.empty()) {
        auto proc = fmt::format("/proc/self/fd/{}", file.fd_);
        rc = ::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, final_path.c_str(), AT_SYMLINK_FOLLOW);
    } else {
        rc = ::link(file.named_path_.c_str(), final_path.c_str());
    }
    if (rc != 0) {
        if (errno != EEXIST) {
            ec = last_error();
            return publish_outcome::divergent;
        }
        auto stored = lookup(equipment, run, ec);
        if (!stored) {
            if (!ec) ec = std::make_error_code(std::errc::no_such_file_or_directory);
            return publish_outcome::divergent;
        }
        existing = *stored;
        if (existing.sha256 != meta.sha256) return publish_outcome::divergent;
        // The record says "same": prove it on the bytes before answering so. A stored copy
        // damaged on disk is replaced by this upload, whose bytes were just hashed.
        auto actual = hash_file(final_path, ec);
        if (!actual) {
            if (!ec) ec = std::make_error_code(std::errc::no_such_file_or_directory);
            return publish_outcome::divergent;
        }
        if (actual->sha256 == meta.sha256 && actual->bytes == meta.bytes) return publish_outcome::same;
        if ((ec = replace_data(file, final_path))) return publish_outcome::divergent;
        existing = meta;
        ec = write_sidecar(dir, run, meta);
        return publish_outcome::repaired;
    }
    if (!file.named_path_.empty()) {
        ::unlink(file.named_path_.c_str());
        file.named_path_.clear();
    }
    if ((ec = write_sidecar(dir, run, meta))) return publish_outcome::created;
    existing = meta;
    return publish_outcome::created;
}

}  // namespace labsync::receiver
