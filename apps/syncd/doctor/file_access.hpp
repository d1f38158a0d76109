#pragma once
// `syncd doctor --as-user USER`: would USER be allowed to read a token file, write the state
// directory, list a runs root? Decided from the owner, group and mode bits of the path and of every
// directory above it (search permission), against USER's uid, primary and supplementary groups, so
// root can check for the service user without switching to it. ACLs are not consulted.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labsync::apps {

struct account {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::vector<gid_t> groups;  // supplementary groups, the primary included
};

// The user running this process.
account current_account();
// USER by name (or numeric uid); nullopt and `why` when there is no such user.
std::optional<account> lookup_account(const std::string& name, std::string& why);

// "labsync (uid 998, gid 998)"
std::string describe(const account& who);

enum access_need : int { need_read = 4, need_write = 2, need_search = 1 };

// Empty when `who` may access `path` as `need` (a mask of access_need); otherwise why not, naming
// the first path component that refuses and its owner and mode:
// "/etc/labsync (root:labsync 0750) does not let nobody (uid 65534, gid 65534) enter it".
std::string access_refusal(const account& who, const std::filesystem::path& path, int need);

}  // namespace labsync::apps
