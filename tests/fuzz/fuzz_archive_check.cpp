// Fuzzes the streaming archive checker the receiver runs over every upload body: arbitrary bytes
// in arbitrary chunk splits must never crash, leak or hang, and the verdict (error, sha256, member
// count) must not depend on how the stream was split — a socket decides the splits, not us —
// nor on whether the checker runs on one thread or two (the receiver's pipeline).
#include "labsync/verifier/archive_checker.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

namespace {

struct verdict {
    std::error_code feed_error;
    std::error_code finish_error;
    std::string sha256;
    std::uint64_t members = 0;
    std::uint64_t files = 0;
};

// The first four bytes seed the chunk sizes (1 .. 4096); the rest is the stream.
verdict check_in_chunks(std::span<const std::byte> stream, std::uint32_t seed,
                        labsync::verifier::archive_checker checker) {
    verdict v;
    std::size_t pos = 0;
    while (pos < stream.size() && !v.feed_error) {
        seed = seed * 1664525u + 1013904223u;
        std::size_t chunk = 1 + (seed >> 8) % ((seed & 1) ? 7 : 4096);
        if (chunk > stream.size() - pos) chunk = stream.size() - pos;
        v.feed_error = checker.feed(stream.subspan(pos, chunk));
        pos += chunk;
    }
    if (!v.feed_error) {
        v.finish_error = checker.finish();
        v.sha256 = checker.sha256();
        v.files = checker.files_checked();
    }
    v.members = checker.members_seen();
    return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    std::uint32_t seed = std::uint32_t(data[0]) | std::uint32_t(data[1]) << 8 | std::uint32_t(data[2]) << 16 |
                         std::uint32_t(data[3]) << 24;
    std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 4), size - 4);

    using labsync::verifier::archive_check_threads;
    using labsync::verifier::archive_checker;
    verdict split = check_in_chunks(stream, seed, archive_checker(true, archive_check_threads::one));
    // The two-thread pipeline: the same verdict as one thread, whatever the splits.
    verdict piped = check_in_chunks(stream, seed, archive_checker(true, archive_check_threads::two));
    // The receiver's parallel frames (a budget shared across inputs, as across uploads): the same.
    static const auto budget = std::make_shared<labsync::verifier::check_budget>(16u << 20);
    verdict frames =
        check_in_chunks(stream, seed, archive_checker(true, labsync::verifier::parallel_frames{2, budget}));

    labsync::verifier::archive_checker whole;
    std::error_code whole_feed = whole.feed(stream);
    std::error_code whole_finish = whole_feed ? whole_feed : whole.finish();
    std::error_code split_result = split.feed_error ? split.feed_error : split.finish_error;
    // Same verdict whatever the splits: an error found early by one must be found by the other.
    if (whole_finish != split_result) std::abort();
    if ((piped.feed_error ? piped.feed_error : piped.finish_error) != split_result) std::abort();
    if (!split_result && (piped.sha256 != split.sha256 || piped.files != split.files)) std::abort();
    if ((frames.feed_error ? frames.feed_error : frames.finish_error) != split_result) std::abort();
    if (!split_result && (frames.sha256 != split.sha256 || frames.files != split.files)) std::abort();
    if (!split_result && (split.sha256 != whole.sha256() || split.files != whole.files_checked()))
        std::abort();
    // A stream accepted as complete must have had its manifest member.
    if (!split_result && split.members == 0) std::abort();
    return 0;
}
