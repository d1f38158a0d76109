// See file_access.hpp.
#include "doctor/file_access.hpp"

#include <fmt/format.h>

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <cstring>

namespace labsync::apps {
namespace {

namespace fs = std::filesystem;

std::vector<gid_t> groups_of(const char* name, gid_t gid) {
    int n = 32;
    std::vector<gid_t> groups(static_cast<std::size_t>(n));
    while (::getgrouplist(name, gid, groups.data(), &n) < 0) groups.resize(static_cast<std::size_t>(n) + 32);
    groups.resize(static_cast<std::size_t>(n));
    return groups;
}

std::string name_of_group(gid_t gid) {
    const group* g = ::getgrgid(gid);
    return g ? g->gr_name : std::to_string(gid);
}

std::string name_of_user(uid_t uid) {
    const passwd* p = ::getpwuid(uid);
    return p ? p->pw_name : std::to_string(uid);
}

account from_passwd(const passwd& p) {
    return account{p.pw_name, p.pw_uid, p.pw_gid, groups_of(p.pw_name, p.pw_gid)};
}

// The permission bits that apply to `who` for a file with this stat (owner, else group, else other).
int bits_for(const account& who, const struct stat& st) {
    if (who.uid == st.st_uid) return static_cast<int>((st.st_mode >> 6) & 7);
    if (std::find(who.groups.begin(), who.groups.end(), st.st_gid) != who.groups.end())
        return static_cast<int>((st.st_mode >> 3) & 7);
    return static_cast<int>(st.st_mode & 7);
}

bool allowed(const account& who, const struct stat& st, int need) {
    if (who.uid == 0)  // root: everything but executing a file no one may execute
        return !(need & need_search) || S_ISDIR(st.st_mode) || (st.st_mode & 0111) != 0;
    return (bits_for(who, st) & need) == need;
}

std::string owner_and_mode(const struct stat& st) {
    return fmt::format("{}:{} {:04o}", name_of_user(st.st_uid), name_of_group(st.st_gid), st.st_mode & 07777);
}

}  // namespace

account current_account() {
    const uid_t uid = ::geteuid();
    if (const passwd* p = ::getpwuid(uid)) return from_passwd(*p);
    return account{std::to_string(uid), uid, ::getegid(), {::getegid()}};
}

std::optional<account> lookup_account(const std::string& name, std::string& why) {
    const passwd* p = ::getpwnam(name.c_str());
    if (!p && !name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
        p = ::getpwuid(static_cast<uid_t>(std::stoul(name)));
    if (!p) {
        why = fmt::format("--as-user {}: no such user on this host (getent passwd {})", name, name);
        return std::nullopt;
    }
    return from_passwd(*p);
}

std::string describe(const account& who) {
    return fmt::format("{} (uid {}, gid {})", who.name, who.uid, who.gid);
}

std::string access_refusal(const account& who, const fs::path& path, int need) {
    const fs::path absolute = fs::absolute(path).lexically_normal();
    fs::path walked;
    for (auto it = absolute.begin(); it != absolute.end(); ++it) {
        walked /= *it;
        struct stat st {};
        if (::stat(walked.c_str(), &st) != 0)
            return fmt::format("{}: {}", walked.string(), std::strerror(errno));
        const bool last = std::next(it) == absolute.end();
        if (!last && !allowed(who, st, need_search))
            return fmt::format("{} ({}) does not let {} enter it", walked.string(), owner_and_mode(st),
                               describe(who));
        if (last && !allowed(who, st, need)) {
            std::string what = need & need_write ? "write" : need & need_read ? "read" : "enter";
            if (need == (need_write | need_search)) what = "create files in";
            return fmt::format("{} ({}) does not let {} {} it", walked.string(), owner_and_mode(st),
                               describe(who), what);
        }
    }
    return {};
}

}  // namespace labsync::apps
