#pragma once
// A small tmpfs mounted for a test (disk-full cases), unmounted (lazily) when the guard dies.
// Needs root or CAP_SYS_ADMIN: otherwise `mounted` is false and `why_not` says why (the caller
// skips with skip_test(why_not)).

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace labsync::test {

struct small_fs {
    std::filesystem::path dir;
    bool mounted = false;
    std::string why_not;
    small_fs(std::filesystem::path d, const std::string& size) : dir(std::move(d)) {
        std::filesystem::create_directories(dir);
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) == 0;
        if (!mounted)
            why_not =
                "cannot mount a tmpfs (needs root or CAP_SYS_ADMIN): " + std::string(std::strerror(errno));
    }
    bool grow(const std::string& size) {
        return ::mount("tmpfs", dir.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
    }
    ~small_fs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
    }
    small_fs(const small_fs&) = delete;
    small_fs& operator=(const small_fs&) = delete;
};

}  // namespace labsync::test
