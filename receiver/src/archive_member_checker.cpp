#include "labsync/receiver/body_checker.hpp"

#include "labsync/verifier/archive_checker.hpp"

namespace labsync::receiver {
namespace {

// The verifier's streaming archive checker: decompresses, walks the tar members, hashes each and
// compares them with the embedded `.labsync/manifest.sha256`. The raw bytes are hashed by the
// upload file while it writes them, on another pool thread, so the two passes run in parallel;
// with two threads (--check-threads 2, the default) the pool thread feeding it only decompresses
// and the tar walk and member hashes run on the checker's own thread (4 × 512 KiB in flight).
class archive_member_checker final : public body_checker {
public:
    explicit archive_member_checker(std::size_t threads)
        : checker_(false, threads == 2 ? verifier::archive_check_threads::two
                                       : verifier::archive_check_threads::one) {}
    std::error_code feed(std::span<const std::byte> data) override { return checker_.feed(data); }
    std::error_code finish() override { return checker_.finish(); }
    std::string failure() const override {
        const auto& path = checker_.error_path();
        const auto& reason = checker_.error_reason();
        if (path.empty()) return "archive check failed: " + reason;
        return "archive member " + path + ": " + reason;
    }

private:
    verifier::archive_checker checker_;
};

}  // namespace

std::unique_ptr<body_checker> make_archive_member_checker(std::size_t threads) {
    return std::make_unique<archive_member_checker>(threads);
}

}  // namespace labsync::receiver
