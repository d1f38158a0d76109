#pragma once
// A check that runs over the upload body as it streams past (the archive member check). The
// server feeds every chunk in order on its disk pool, then calls finish(); the first error wins
// and failure() names what did not match, for the 422 body.

#include "labsync/verifier/check_budget.hpp"

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <system_error>

namespace labsync::receiver {

class body_checker {
public:
    virtual ~body_checker() = default;
    virtual std::error_code feed(std::span<const std::byte> data) = 0;
    virtual std::error_code finish() = 0;
    // What failed, one line (e.g. "member data/a.bin: sha256 differs from the manifest").
    virtual std::string failure() const = 0;
};

// The tar+zstd member check against the embedded `.labsync/manifest.sha256`, or nullptr when
// this build has no archive checker. threads: 1, or 2 (the feeding thread finds the zstd frames,
// two threads of the checker decode them, frames ahead of the walk on `budget`, and a third walks
// the tar and hashes the members: verifier::parallel_frames).
std::unique_ptr<body_checker> make_archive_member_checker(
    std::size_t threads = 2, std::shared_ptr<verifier::check_budget> budget = nullptr);

}  // namespace labsync::receiver
