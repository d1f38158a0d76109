#pragma once
// What an archive_checker concluded, compared whole between checkers (one thread, two, parallel
// frames): the archive tests feed the same bytes in the same chunks to each.

#include "labsync/verifier/archive_checker.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>

namespace labsync::test {

struct outcome {
    std::error_code error;
    std::string path;
    std::string reason;
    std::string sha256;
    std::uint64_t files = 0;
    std::uint64_t members = 0;

    bool operator==(const outcome&) const = default;
};

outcome check_bytes_in(verifier::archive_checker& checker, const std::string& bytes, std::size_t chunk) {
    const auto* p = reinterpret_cast<const std::byte*>(bytes.data());
    for (std::size_t off = 0; off < bytes.size(); off += chunk)
        checker.feed({p + off, std::min(chunk, bytes.size() - off)});
    auto ec = checker.finish();
    CHECK(checker.bytes_fed() == bytes.size());
    CHECK(ec == checker.error());
    return {ec,
            checker.error_path(),
            checker.error_reason(),
            checker.sha256(),
            checker.files_checked(),
            checker.members_seen()};
}

}  // namespace labsync::test
