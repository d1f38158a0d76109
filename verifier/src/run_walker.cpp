#include "labsync/verifier/run_walker.hpp"

#include "labsync/verifier/errc.hpp"

#include "relative_path.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <time.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>

namespace labsync::verifier {

std::int64_t mtime_ns(std::int64_t seconds, std::int64_t nanoseconds) noexcept {
    constexpr std::int64_t giga = 1'000'000'000;
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    constexpr auto min = std::numeric_limits<std::int64_t>::min();
    if (seconds > (max - nanoseconds) / giga) return max;
    if (seconds < min / giga + 1) return min;
    return seconds * giga + nanoseconds;
}

void unique_fd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

std::string_view to_string(finding_kind kind) noexcept {
    switch (kind) {
        case finding_kind::symlink:
            return "symlink";
        case finding_kind::device:
            return "device";
        case finding_kind::socket:
            return "socket";
        case finding_kind::fifo:
            return "fifo";
        case finding_kind::unreadable:
            return "unreadable";
        case finding_kind::other:
            return "other";
    }
    return "other";
}

void run_file_list::add(std::string_view prefix, std::string_view name, const stat_fingerprint& st,
                        std::int64_t mtime_s, std::uint32_t mode) {
    records_.push_back({paths_.add_joined(prefix, name), mtime_s, mode});
    stats_.push_back(st);
}

void run_file_list::sort() {
    auto less = [this](std::size_t a, std::size_t b) {
        return paths_.get(records_[a].path) < paths_.get(records_[b].path);
    };
    std::vector<std::uint32_t> order(records_.size());  // 4 bytes per file: runs hold far fewer than 2^32
    std::iota(order.begin(), order.end(), std::uint32_t{0});
    if (std::is_sorted(order.begin(), order.end(), less)) return;
    std::sort(order.begin(), order.end(), less);
    // Applies the permutation in place, cycle by cycle (order[i] = where position i's file is
    // now); a settled position points at itself. No second copy of the records.
    for (std::uint32_t i = 0; i < order.size(); ++i) {
        if (order[i] == i) continue;
        const record r = records_[i];
        const stat_fingerprint st = stats_[i];
        std::uint32_t j = i;
        while (order[j] != i) {
            const std::uint32_t from = order[j];
            records_[j] = records_[from];
            stats_[j] = stats_[from];
            order[j] = j;
            j = from;
        }
        records_[j] = r;
        stats_[j] = st;
        order[j] = j;
    }
}

void run_file_list::clear_records() {
    records_ = {};
}

path_arena run_file_list::take_paths() {
    clear_records();
    return std::move(paths_);
}

std::vector<stat_fingerprint> run_file_list::take_fingerprints() {
    clear_records();
    return std::move(stats_);
}

namespace {

std::error_code last_error() {
    return {errno, std::system_category()};
}

std::string join(const std::string& prefix, std::string_view name) {
    if (prefix.empty()) return std::string(name);
    std::string out;
    out.reserve(prefix.size() + 1 + name.size());
    out += prefix;
    out.push_back('/');
    out += name;
    return out;
}

class walker {
public:
    explicit walker(walk_result& out) : out_(out) {}

    // Walks the directory `fd` (owned) whose relative path is `prefix`. Returns false on a hard
    // error (recorded in out_), true when the walk may go on.
    bool walk_dir(unique_fd fd, const std::string& prefix) {
        // fdopendir takes ownership of the fd it gets; keep our own for the openat/fstatat calls.
        int stream_fd = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
        if (stream_fd < 0) return hard_error(last_error(), prefix);
        DIR* dir = ::fdopendir(stream_fd);
        if (dir == nullptr) {
            auto ec = last_error();
            ::close(stream_fd);
            return hard_error(ec, prefix);
        }
        std::vector<std::string> subdirs;
        for (;;) {
            errno = 0;
            dirent* de = ::readdir(dir);
            if (de == nullptr) {
                if (errno != 0) {
                    auto ec = last_error();
                    ::closedir(dir);
                    return hard_error(ec, prefix);
                }
                break;
            }
            std::string_view name = de->d_name;
            if (name == "." || name == "..") continue;
            classify(fd.get(), prefix, de->d_name, subdirs);
        }
        ::closedir(dir);
        // Sub-directories are entered after the stream is closed: one fd per level, not two.
        for (const auto& name : subdirs) {
            std::string rel = join(prefix, name);
            int sub = ::openat(fd.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                int err = errno;
                if (err == ENOENT) continue;  // removed since it was listed: not part of the run any more
                if (err == EACCES || err == EPERM) {
                    out_.findings.push_back(
                        {finding_kind::unreadable, rel,
                         std::string("directory cannot be opened: ") + std::strerror(err)});
                    continue;
                }
                if (err == ELOOP || err == ENOTDIR) {
                    out_.findings.push_back(
                        {finding_kind::other, rel, "directory was replaced while walking"});
                    continue;
                }
                return hard_error({err, std::system_category()}, rel);
            }
            out_.directories.push_back(rel);
            if (!walk_dir(unique_fd(sub), rel)) return false;
        }
        return true;
    }

private:
    void classify(int dir_fd, const std::string& prefix, const char* name,
                  std::vector<std::string>& subdirs) {
        struct stat st {};
        if (::fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            int err = errno;
            if (err == ENOENT) return;  // removed since it was listed
            out_.findings.push_back({finding_kind::unreadable, join(prefix, name),
                                     std::string("cannot stat: ") + std::strerror(err)});
            return;
        }
        auto kind_of = [&]() -> std::pair<finding_kind, const char*> {
            switch (st.st_mode & S_IFMT) {
                case S_IFLNK:
                    return {finding_kind::symlink, "symbolic link: never followed or shipped"};
                case S_IFCHR:
                    return {finding_kind::device, "character device: not shipped"};
                case S_IFBLK:
                    return {finding_kind::device, "block device: not shipped"};
                case S_IFSOCK:
                    return {finding_kind::socket, "unix socket: not shipped"};
                case S_IFIFO:
                    return {finding_kind::fifo, "fifo: not shipped"};
                default:
                    return {finding_kind::other, "unknown file type: not shipped"};
            }
        };
        if (S_ISDIR(st.st_mode)) {
            subdirs.emplace_back(name);
        } else if (S_ISREG(st.st_mode)) {
            // Mode bits that grant everyone read access settle it; otherwise ask the kernel with
            // our effective ids (ACLs, group membership, root's override).
            if ((st.st_mode & S_IROTH) == 0 &&
                ::faccessat(dir_fd, name, R_OK, AT_EACCESS | AT_SYMLINK_NOFOLLOW) != 0) {
                int err = errno;
                if (err == ENOENT) return;
                out_.findings.push_back({finding_kind::unreadable, join(prefix, name),
                                         std::string("file cannot be read: ") + std::strerror(err)});
                return;
            }
            out_.files.add(
                prefix, name,
                {static_cast<std::uint64_t>(st.st_size), mtime_ns(st.st_mtim), mtime_ns(st.st_ctim),
                 static_cast<std::uint64_t>(st.st_ino), static_cast<std::uint64_t>(st.st_dev)},
                static_cast<std::int64_t>(st.st_mtim.tv_sec), static_cast<std::uint32_t>(st.st_mode));
        } else {
            auto [kind, why] = kind_of();
            out_.findings.push_back({kind, join(prefix, name), why});
            if (S_ISLNK(st.st_mode)) out_.findings.back().target = link_target(dir_fd, name, st);
        }
    }

    // The target of a symlink (never followed); "" when it cannot be read (the link changed).
    static std::string link_target(int dir_fd, const char* name, const struct stat& st) {
        std::string target(static_cast<std::size_t>(st.st_size > 0 ? st.st_size : 255) + 1, '\0');
        ssize_t n = ::readlinkat(dir_fd, name, target.data(), target.size());
        if (n < 0 || static_cast<std::size_t>(n) == target.size()) return {};
        target.resize(static_cast<std::size_t>(n));
        return target;
    }

    bool hard_error(std::error_code ec, const std::string& path) {
        out_.error = ec;
        out_.error_path = path;
        return false;
    }

    walk_result& out_;
};

bool path_is_safe(std::string_view path) {
    return path.find('\0') == std::string_view::npos && detail::stays_beneath(path);
}

std::error_code map_open_error(int err) {
    switch (err) {
        case ENOENT:
            return make_error_code(errc::local_file_vanished);
        case ELOOP:
        case ENOTDIR:
        case EXDEV:
            return make_error_code(errc::local_file_changed);
        case EACCES:
        case EPERM:
            return std::make_error_code(std::errc::permission_denied);
        default:
            return {err, std::system_category()};
    }
}

std::atomic<bool> openat2_missing{false};

// -1 with errno on failure. Falls back to a component walk where openat2 does not exist.
int open_beneath(int dir_fd, const std::string& path) {
    constexpr int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!openat2_missing.load(std::memory_order_relaxed)) {
        open_how how{};
        how.flags = flags;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
        for (int attempt = 0; attempt < 8; ++attempt) {
            long fd = ::syscall(SYS_openat2, dir_fd, path.c_str(), &how, sizeof how);
            if (fd >= 0) return static_cast<int>(fd);
            if (errno == EAGAIN) continue;  // a concurrent rename in the tree; the kernel asks to retry
            if (errno != ENOSYS && errno != EPERM) return -1;
            if (errno == ENOSYS) openat2_missing = true;
            break;  // ENOSYS, or EPERM from a seccomp filter: use the portable walk
        }
    }
    unique_fd cur;
    int at = dir_fd;
    std::size_t start = 0;
    for (;;) {
        std::size_t slash = path.find('/', start);
        std::string comp = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (slash == std::string::npos) return ::openat(at, comp.c_str(), flags);
        int next = ::openat(at, comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) return -1;
        cur.reset(next);
        at = next;
        start = slash + 1;
    }
}

}  // namespace

unique_fd open_run_dir(const std::filesystem::path& run_dir, std::error_code& ec) {
    ec.clear();
    int fd = ::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        ec = (err == ENOTDIR || err == ELOOP) ? make_error_code(errc::not_a_directory)
                                              : std::error_code(err, std::system_category());
        return {};
    }
    return unique_fd(fd);
}

walk_result walk_run(const std::filesystem::path& run_dir) {
    walk_result out;
    auto fd = open_run_dir(run_dir, out.error);
    if (!fd) return out;
    return walk_run(fd.get());
}

walk_result walk_run(int run_dir_fd) {
    walk_result out;
    timespec started{};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &started);
    out.started_ns = mtime_ns(started);
    int fd = ::fcntl(run_dir_fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
        out.error = last_error();
        return out;
    }
    walker w(out);
    if (w.walk_dir(unique_fd(fd), "")) {
        // A depth-first walk is not byte order ("a/b" sorts after "a-b"): sort once at the end.
        out.files.sort();
        std::sort(out.directories.begin(), out.directories.end());
        std::sort(out.findings.begin(), out.findings.end(),
                  [](const auto& a, const auto& b) { return a.path < b.path; });
    }
    return out;
}

namespace {

enum class entry_kind { file, directory };

// Opens `relative_path` beneath the run without following links and checks it is still of the
// kind the walk saw (anything else means the run changed under us).
unique_fd open_run_entry(int run_dir_fd, std::string_view relative_path, entry_kind kind,
                         std::error_code& ec) {
    ec.clear();
    if (!path_is_safe(relative_path)) {
        ec = make_error_code(errc::unsafe_path);
        return {};
    }
    // O_NONBLOCK: a file swapped for a fifo since the walk must not block the open.
    unique_fd fd(open_beneath(run_dir_fd, std::string(relative_path)));
    if (!fd) {
        ec = map_open_error(errno);
        return {};
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        ec = last_error();
        return {};
    }
    if (kind == entry_kind::directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        ec = make_error_code(errc::local_file_changed);
        return {};
    }
    if (kind == entry_kind::file) {
        int fl = ::fcntl(fd.get(), F_GETFL);
        if (fl >= 0) ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

}  // namespace

unique_fd open_run_file(int run_dir_fd, std::string_view relative_path, std::error_code& ec) {
    return open_run_entry(run_dir_fd, relative_path, entry_kind::file, ec);
}

unique_fd open_run_subdir(int run_dir_fd, std::string_view relative_path, std::error_code& ec) {
    return open_run_entry(run_dir_fd, relative_path, entry_kind::directory, ec);
}

}  // namespace labsync::verifier
