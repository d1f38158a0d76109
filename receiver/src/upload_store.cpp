#include "labsync/receiver/upload_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <vector>

namespace labsync::receiver {
namespace fs = std::filesystem;
namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

std::error_code fsync_path(const fs::path& path, int flags) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}

std::error_code write_state(const fs::path& dir, const upload_state& state) {
    const fs::path tmp = dir / "state.json.tmp";
    int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0) return last_error();
    std::string text = upload_state_json(state);
    std::error_code ec;
    const char* p = text.data();
    std::size_t left = text.size();
    while (left > 0 && !ec) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno != EINTR) ec = last_error();
        if (n > 0) {
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    if (!ec && ::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    if (!ec && ::rename(tmp.c_str(), (dir / "state.json").c_str()) != 0) ec = last_error();
    if (ec) return ec;
    return fsync_path(dir, O_RDONLY | O_DIRECTORY);
}

std::optional<upload_state> read_state(const fs::path& dir, std::error_code& ec) {
    int fd = ::open((dir / "state.json").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT && errno != ENOTDIR) ec = last_error();
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    auto state = parse_upload_state(text);
    if (!state) ec = std::make_error_code(std::errc::bad_message);
    return state;
}

std::int64_t mtime_of(const fs::path& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_mtim.tv_sec) : 0;
}

}  // namespace

upload_handle::upload_handle(std::string id, fs::path dir, int fd, upload_state state)
    : id_(std::move(id)), dir_(std::move(dir)), fd_(fd), state_(std::move(state)), written_(state_.offset) {}

upload_handle::~upload_handle() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::error_code upload_handle::resume(std::unique_ptr<upload_progress> cached,
                                      const std::function<std::unique_ptr<body_checker>()>& make_checker) {
    // Bytes past the acknowledged offset were never acknowledged (a crash or a failed write).
    if (::ftruncate(fd_, static_cast<off_t>(state_.offset)) != 0) return last_error();
    written_ = state_.offset;
    if (cached && cached->fed == state_.offset) {
        progress_ = std::move(cached);
        return {};
    }
    progress_ = std::make_unique<upload_progress>();
    progress_->checker = make_checker();
    std::vector<std::byte> buf(1 << 20);
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (progress_->fed < state_.offset) {
        auto want =
            static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), state_.offset - progress_->fed));
        ssize_t n = ::pread(fd_, buf.data(), want, static_cast<off_t>(progress_->fed));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            auto ec = n < 0 ? last_error() : std::make_error_code(std::errc::io_error);
            progress_.reset();
            return ec;
        }
        std::span<const std::byte> data(buf.data(), static_cast<std::size_t>(n));
        progress_->hash.update(data);
        if (progress_->checker) progress_->checker->feed(data);
        progress_->fed += static_cast<std::uint64_t>(n);
    }
    rescanned_ = state_.offset;
    return {};
}

std::error_code upload_handle::reserve(std::uint64_t bytes) {
    if (bytes == 0) return {};
    if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(written_), static_cast<off_t>(bytes)) != 0) {
        if (errno == EOPNOTSUPP || errno == ENOSYS) return {};
        return last_error();
    }
    return {};
}

std::error_code upload_handle::append(std::span<const std::byte> data) {
    progress_->hash.update(data);
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd_, data.data(), data.size(), static_cast<off_t>(written_));
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        written_ += static_cast<std::uint64_t>(n);
        data = data.subspan(static_cast<std::size_t>(n));
    }
    return {};
}

std::error_code upload_handle::checkpoint(std::int64_t now) {
    if (written_ == state_.offset) return {};
    if (::fsync(fd_) != 0) return last_error();
    upload_state next = state_;
    next.offset = written_;
    next.updated = now;
    if (auto ec = write_state(dir_, next)) return ec;
    state_ = next;
    return {};
}

std::unique_ptr<upload_progress> upload_handle::release_progress() {
    if (!progress_ || progress_->fed != state_.offset || written_ != state_.offset) return nullptr;
    return std::move(progress_);
}

upload_completion upload_handle::complete(const run_store& store, stored_run meta, const std::string& claimed,
                                          std::int64_t now) {
    upload_completion out;
    if (!progress_) return {500, "store_error", "the upload was not resumed before completing", {}};
    std::error_code check_ec = progress_->checker ? progress_->checker->finish() : std::error_code{};
    std::string actual = verifier::to_hex(progress_->hash.finish());
    std::string failure = progress_->checker ? progress_->checker->failure() : std::string{};
    progress_.reset();
    // run_store::publish links a named file to the final name; give it a second name of the
    // data in .tmp (reaped by run_store::open if we die) so the upload's own stays until done.
    fs::path tmp = store.root() / ".tmp" / fmt::format("upload.{}.u{}", ::getpid(), id_);
    ::unlink(tmp.c_str());
    int fd = ::link((dir_ / "data").c_str(), tmp.c_str()) == 0 ? ::dup(fd_) : -1;
    if (fd < 0)
        return {500, "store_error", "cannot link the upload for publishing: " + last_error().message(), {}};
    upload_file file(fd, tmp);
    out = publish_checked(store, file, state_.equipment, state_.run, std::move(meta), written_, actual,
                          claimed, "Repr-Digest", check_ec, failure);
    if (out.status == 500) return out;  // stays open: the next completing request tries again
    upload_state done = state_;
    done.offset = written_;
    done.complete = true;
    done.result = out.status;
    done.updated = now;
    if (write_state(dir_, done)) return out;  // the answer stands; the state may be retried by expiry
    state_ = done;
    ::unlink((dir_ / "data").c_str());  // the bytes are published (or refused): release them
    return out;
}

std::error_code upload_handle::remove() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (!ec) ec = fsync_path(dir_.parent_path(), O_RDONLY | O_DIRECTORY);
    return ec;
}

upload_store::upload_store(fs::path store_root, std::chrono::seconds expiry)
    : dir_(std::move(store_root) / ".uploads"), expiry_(expiry) {}

std::string upload_store::create(upload_state state, std::error_code& ec) const {
    ec.clear();
    unsigned char raw[16];
    if (::getrandom(raw, sizeof raw, 0) != sizeof raw) {
        ec = last_error();
        return {};
    }
    std::string id;
    for (unsigned char c : raw) id += fmt::format("{:02x}", c);
    if (fs::create_directories(dir_, ec) && !ec) ec = fsync_path(dir_.parent_path(), O_RDONLY | O_DIRECTORY);
    if (ec) return {};
    const fs::path dir = dir_ / id;
    if (::mkdir(dir.c_str(), 0750) != 0) {
        ec = last_error();
        return {};
    }
    int fd = ::open((dir / "data").c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0 || ::fsync(fd) != 0) ec = last_error();
    if (fd >= 0) ::close(fd);
    if (!ec) ec = write_state(dir, state);
    if (!ec) ec = fsync_path(dir_, O_RDONLY | O_DIRECTORY);
    if (ec) {
        std::error_code ignored;
        fs::remove_all(dir, ignored);
        return {};
    }
    return id;
}

std::optional<upload_state> upload_store::peek(const std::string& id, std::int64_t now, upload_access& access,
                                               std::error_code& ec) const {
    ec.clear();
    auto state = read_state(dir_ / id, ec);
    access = ec                                     ? upload_access::error
             : !state                               ? upload_access::absent
             : upload_expired(*state, now, expiry_) ? upload_access::expired
                                                    : upload_access::ok;
    return access == upload_access::ok ? state : std::nullopt;
}

std::unique_ptr<upload_handle> upload_store::open(const std::string& id, std::int64_t now,
                                                  upload_access& access, std::error_code& ec) const {
    ec.clear();
    const fs::path dir = dir_ / id;
    int fd = ::open((dir / "data").c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        access = errno == ENOENT || errno == ENOTDIR ? upload_access::absent : upload_access::error;
        if (access == upload_access::error) ec = last_error();
        // A completed upload keeps only its state (its data was released).
        if (access == upload_access::absent) {
            if (auto s = peek(id, now, access, ec); s && access == upload_access::ok)
                return std::make_unique<upload_handle>(id, dir, -1, *s);
            if (access == upload_access::expired) {
                fs::remove_all(dir, ec);  // completed long ago: gone, not abandoned
                access = upload_access::absent;
            }
        }
        return nullptr;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        access = errno == EWOULDBLOCK ? upload_access::busy : upload_access::error;
        if (access == upload_access::error) ec = last_error();
        ::close(fd);
        return nullptr;
    }
    auto state = read_state(dir, ec);
    if (!state) {
        access = ec ? upload_access::error : upload_access::absent;  // removed meanwhile
        ::close(fd);
        return nullptr;
    }
    auto handle = std::make_unique<upload_handle>(id, dir, fd, *state);
    if (upload_expired(*state, now, expiry_)) {
        ec = handle->remove();
        access = upload_access::expired;
        return nullptr;
    }
    access = upload_access::ok;
    return handle;
}

std::size_t upload_store::sweep(std::int64_t now) const {
    std::size_t abandoned = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
        const auto id = entry.path().filename().string();
        if (!valid_upload_id(id)) continue;
        std::error_code rec;
        auto state = read_state(entry.path(), rec);
        // A directory without a state (a crash during create) goes once as old as an expiry.
        const bool expired =
            state ? upload_expired(*state, now, expiry_) : now - mtime_of(entry.path()) >= expiry_.count();
        if (!expired) continue;
        int fd = ::open((entry.path() / "data").c_str(), O_RDWR | O_CLOEXEC);
        if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
            ::close(fd);  // in use right now: not abandoned
            continue;
        }
        fs::remove_all(entry.path(), rec);
        if (fd >= 0) ::close(fd);
        if (!rec && state && !state->complete) ++abandoned;
    }
    if (abandoned > 0) fsync_path(dir_, O_RDONLY | O_DIRECTORY);
    return abandoned;
}

std::unique_ptr<upload_progress> upload_store::take_progress(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = progress_.find(id);
    if (it == progress_.end()) return nullptr;
    auto p = std::move(it->second);
    progress_.erase(it);
    return p;
}

void upload_store::keep_progress(const std::string& id, std::unique_ptr<upload_progress> progress) {
    if (!progress) return;
    std::lock_guard lock(mutex_);
    if (progress_.size() >= max_kept_progress) progress_.erase(progress_.begin());  // re-scanned if needed
    progress_[id] = std::move(progress);
}

}  // namespace labsync::receiver
