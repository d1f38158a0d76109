#include "labsync/common/secret_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace labsync::common {
namespace {

// "group", "others" or "group and others", for the bits of `mode` in `group_bit`/`other_bit`.
std::string who(unsigned mode, unsigned group_bit, unsigned other_bit) {
    const bool group = (mode & group_bit) != 0;
    const bool other = (mode & other_bit) != 0;
    if (group && other) return "group and others";
    return group ? "group" : "others";
}

}  // namespace

secret_exposure classify_secret_mode(unsigned mode) noexcept {
    if (mode & (S_IWGRP | S_IWOTH)) return secret_exposure::writable_by_others;
    if (mode & (S_IRGRP | S_IROTH)) return secret_exposure::readable_by_others;
    return secret_exposure::owner_only;
}

std::string format_mode(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777u);
    return buf;
}

secret_file_status check_secret_file(const std::filesystem::path& path, std::string_view what) {
    secret_file_status s;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        s.error = {errno, std::generic_category()};
        return s;
    }
    s.mode = static_cast<unsigned>(st.st_mode) & 07777u;
    s.exposure = classify_secret_mode(s.mode);
    const std::string named = std::string(what) + " " + path.string() + " (mode " + format_mode(s.mode) + ")";
    switch (s.exposure) {
        case secret_exposure::owner_only:
            break;
        case secret_exposure::readable_by_others:
            s.message = named + " is readable by " + who(s.mode, S_IRGRP, S_IROTH) +
                        ": anyone who can read it can use its tokens; chmod 600 " + path.string();
            break;
        case secret_exposure::writable_by_others:
            s.message = named + " is writable by " + who(s.mode, S_IWGRP, S_IWOTH) +
                        ": anyone who can write it can put in tokens of their own; chmod 600 " +
                        path.string();
            break;
    }
    return s;
}

}  // namespace labsync::common
