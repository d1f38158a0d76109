#include "labsync/receiver/body_checker.hpp"

#include "labsync/verifier/archive_checker.hpp"

namespace labsync::receiver {
namespace {

// The verifier's streaming archive checker: decompresses, walks the tar members, hashes each and
// compares them with the embedded `.labsync/manifest.sha256`. The raw bytes are hashed by the
// upload file while it writes them, on another pool thread, so the two passes run in parallel;
// with two (--check-threads 2, the default) the pool thread feeding it only finds the zstd frames
// and queues them; two threads of the checker decode frames in parallel (ahead of the walk only on
// the receiver's shared --check-memory budget) and a third walks the tar and hashes the members.
class archive_member_checker final : public body_checker {
public:
    archive_member_checker(std::size_t threads, std::shared_ptr<verifier::check_budget> budget)
        : checker_(threads == 2
                       ? verifier::archive_checker(false, verifier::parallel_frames{2, std::move(budget)})
                       : verifier::archive_checker(false, verifier::archive_check_threads::one)) {}
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

std::unique_ptr<body_checker> make_archive_member_checker(std::size_t threads,
                                                          std::shared_ptr<verifier::check_budget> budget) {
    return std::make_unique<archive_member_checker>(threads, std::move(budget));
}

}  // namespace labsync::receiver
