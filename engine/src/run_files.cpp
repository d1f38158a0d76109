#include "labsync/engine/run_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cerrno>

namespace labsync::engine {
namespace {

std::error_code last_error() {
    return {errno, std::generic_category()};
}

// Empties the directory open as `dir_fd` (takes ownership), depth first.
std::error_code empty_directory(int dir_fd, const std::string& where, std::string* error_path) {
    DIR* d = ::fdopendir(dir_fd);
    if (!d) {
        auto ec = last_error();
        ::close(dir_fd);
        if (error_path) *error_path = where;
        return ec;
    }
    std::error_code result;
    // Collect names first: removing while iterating readdir is allowed but re-reading is simpler.
    std::vector<std::pair<std::string, bool>> entries;
    errno = 0;
    while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        struct stat st {};
        if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;
            result = last_error();
            if (error_path) *error_path = where + "/" + name;
            break;
        }
        entries.emplace_back(name, S_ISDIR(st.st_mode));
    }
    if (!result) {
        for (const auto& [name, is_dir] : entries) {
            if (is_dir) {
                const int child =
                    ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (child < 0) {
                    result = last_error();
                    if (error_path) *error_path = where + "/" + name;
                    break;
                }
                if ((result = empty_directory(child, where + "/" + name, error_path))) break;
                if (::unlinkat(::dirfd(d), name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
                    result = last_error();
                    if (error_path) *error_path = where + "/" + name;
                    break;
                }
            } else if (::unlinkat(::dirfd(d), name.c_str(), 0) != 0 && errno != ENOENT) {
                result = last_error();
                if (error_path) *error_path = where + "/" + name;
                break;
            }
        }
    }
    ::closedir(d);
    return result;
}

std::error_code write_file_synced(const std::filesystem::path& path, const std::string& text) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return last_error();
    std::size_t off = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto ec = last_error();
            ::close(fd);
            return ec;
        }
        off += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto ec = last_error();
        ::close(fd);
        return ec;
    }
    ::close(fd);
    return {};
}

}  // namespace

std::error_code fsync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error();
    std::error_code ec;
    if (::fsync(fd) != 0) ec = last_error();
    ::close(fd);
    return ec;
}

std::string deletion_tombstone(const std::string& name) {
    return name + ".labsync~deleting";
}

namespace {

// Empties and removes <parent_fd>/<name> if it exists; ENOENT is success.
std::error_code remove_tree_at(int parent_fd, const std::string& name, std::string* error_path) {
    const int run_fd = ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (run_fd < 0) {
        if (errno == ENOENT) return {};
        if (error_path) *error_path = name;
        return last_error();
    }
    if (auto ec = empty_directory(run_fd, name, error_path)) return ec;
    if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) {
        if (error_path) *error_path = name;
        return last_error();
    }
    return {};
}

}  // namespace

std::error_code remove_run_tree(const std::filesystem::path& parent, const std::string& name,
                                std::string* error_path) {
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        if (error_path) *error_path = name;
        return std::make_error_code(std::errc::invalid_argument);
    }
    const int parent_fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) {
        if (error_path) *error_path = parent.string();
        return last_error();
    }
    // The run disappears from its path in one step (rename to a tombstone, fsync of the parent),
    // so a crash mid-deletion never leaves a half-deleted run where the engine would find "local
    // files changed". The tombstone's name is not a valid run id, so no watcher picks it up; a
    // tombstone left by an interrupted deletion is removed first, and again by the next call.
    const std::string tomb = deletion_tombstone(name);
    std::error_code ec = remove_tree_at(parent_fd, tomb, error_path);
    struct stat st {};
    if (!ec && ::fstatat(parent_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode)) {
        ec = std::make_error_code(std::errc::not_a_directory);  // a symlinked run is never touched
        if (error_path) *error_path = name;
    }
    if (!ec) {
        if (::renameat(parent_fd, name.c_str(), parent_fd, tomb.c_str()) == 0) {
            if (::fsync(parent_fd) != 0) ec = last_error();
        } else if (errno != ENOENT) {
            ec = last_error();
            if (error_path) *error_path = name;
        }
    }
    if (!ec) ec = remove_tree_at(parent_fd, tomb, error_path);
    if (!ec && ::fsync(parent_fd) != 0) {
        ec = last_error();
        if (error_path) *error_path = parent.string();
    }
    ::close(parent_fd);
    return ec;
}

std::string to_json(const quarantine_reason& r) {
    nlohmann::json j{{"equipment", r.equipment},
                     {"run", r.run_id},
                     {"code", r.code},
                     {"status", r.status},
                     {"body", r.body.size() > 65536 ? r.body.substr(0, 65536) : r.body},
                     {"message", r.message},
                     {"attempts", r.attempts},
                     {"time", fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                                          fmt::gmtime(std::chrono::system_clock::to_time_t(r.at)))}};
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::error_code move_to_quarantine(const std::filesystem::path& run_path,
                                   const std::filesystem::path& quarantine_dir,
                                   const quarantine_reason& reason, std::filesystem::path& destination,
                                   bool& moved) {
    moved = false;
    std::error_code ec;
    const auto eq_dir = quarantine_dir / reason.equipment;
    std::filesystem::create_directories(eq_dir, ec);
    if (ec) return ec;
    destination = eq_dir / reason.run_id;
    for (int i = 1; std::filesystem::exists(std::filesystem::symlink_status(destination, ec)); ++i)
        destination = eq_dir / fmt::format("{}.{}", reason.run_id, i);
    if (::rename(run_path.c_str(), destination.c_str()) == 0) {
        moved = true;
        if ((ec = write_file_synced(destination / "quarantine_reason.json", to_json(reason)))) return ec;
        if ((ec = fsync_directory(destination))) return ec;
        if ((ec = fsync_directory(eq_dir))) return ec;
        return fsync_directory(run_path.parent_path());
    }
    if (errno != EXDEV) return last_error();
    destination = eq_dir / (reason.run_id + ".reason.json");
    if ((ec = write_file_synced(destination, to_json(reason)))) return ec;
    return fsync_directory(eq_dir);
}

std::vector<std::filesystem::path> prune_quarantine(const std::filesystem::path& quarantine_dir,
                                                    int keep_days,
                                                    std::chrono::system_clock::time_point now) {
    std::vector<std::filesystem::path> removed;
    if (keep_days <= 0) return removed;
    const auto cutoff = now - std::chrono::hours(24) * keep_days;
    std::error_code ec;
    for (const auto& eq : std::filesystem::directory_iterator(quarantine_dir, ec)) {
        if (!eq.is_directory(ec) || eq.is_symlink(ec)) continue;
        for (const auto& entry : std::filesystem::directory_iterator(eq.path(), ec)) {
            struct stat st {};
            if (::lstat(entry.path().c_str(), &st) != 0) continue;
            const auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
            if (mtime >= cutoff) continue;
            std::error_code rm;
            if (S_ISDIR(st.st_mode))
                rm = remove_run_tree(eq.path(), entry.path().filename().string());
            else if (::unlink(entry.path().c_str()) != 0)
                rm = last_error();
            if (!rm) removed.push_back(entry.path());
        }
    }
    return removed;
}

}  // namespace labsync::engine
