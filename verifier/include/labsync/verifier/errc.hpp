#pragma once
// Error codes of the verifier module (walking, hashing, archiving, archive checking).

#include <system_error>

namespace labsync::verifier {

enum class errc {
    not_a_directory = 1,   // the run path is not a directory (or is a symlink)
    local_file_vanished,   // a file disappeared between listing and reading
    local_file_changed,    // a file grew, shrank or was modified while being read
    io_error,              // EIO and other read/write failures
    no_space,              // ENOSPC / EDQUOT while writing
    bad_manifest,          // a manifest text or JSON could not be parsed
    archive_corrupt,       // a tar/zstd stream is malformed or truncated
    member_mismatch,       // an archive member differs from the embedded manifest
    manifest_missing,      // an archive has no .labsync/manifest.sha256 as its last member
    unsafe_path,           // a path that would leave the run (.., absolute, NUL)
};

const std::error_category& verifier_category() noexcept;
std::error_code make_error_code(errc e) noexcept;

}  // namespace labsync::verifier

template <>
struct std::is_error_code_enum<labsync::verifier::errc> : std::true_type {};
