#pragma once
// The permission rule for files that hold secrets (bearer tokens: the sender's token_file, the
// receiver's --tokens), applied the way ssh treats private keys:
//   - readable by group or others: a warning at start and in `syncd doctor` (anyone on the host
//     who can read it can upload as that token);
//   - writable by group or others: refused (anyone who can write it can put in a token of their
//     own, or on the receiver grant themselves every equipment).
// The mode is the file's own (stat follows a symlink to the file it names).

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace labsync::common {

enum class secret_exposure {
    owner_only,          // no group/other bits beyond execute
    readable_by_others,  // warn
    writable_by_others,  // refuse
};

// Pure: the verdict for permission bits (`st_mode & 07777`).
secret_exposure classify_secret_mode(unsigned mode) noexcept;

struct secret_file_status {
    secret_exposure exposure = secret_exposure::owner_only;
    unsigned mode = 0;      // permission bits, e.g. 0644
    std::error_code error;  // stat failed (the caller's own read reports a missing file)
    // Empty when owner_only; otherwise names the file (as `what path`), its mode, who can read or
    // write it and the fix (chmod 600).
    std::string message;
};

// stat(2)s `path` and classifies it; `what` names the file in the message ("token_file").
secret_file_status check_secret_file(const std::filesystem::path& path, std::string_view what);

// "0644"
std::string format_mode(unsigned mode);

}  // namespace labsync::common
