#include "labsync/receiver/body_checker.hpp"

#include "labsync/verifier/archive_checker.hpp"

namespace labsync::receiver {
namespace {

// The verifier's streaming archive checker: decompresses, walks the tar members, hashes each and
// compares them with the embedded `.labsync/manifest.sha256`. The raw bytes are hashed by the
// upload file while it writes them, on another pool thread, so the two passes run in parallel.
// --check-threads 2 (the default) decompresses on the pool thread feeding it while a thread of the
// checker walks the tar and hashes the members. With 3 or more the pool thread only finds the zstd
// frames and queues them; threads - 1 threads of the checker decode frames in parallel (ahead of
// the walk only on the receiver's shared --check-memory budget) and one more walks and hashes. On
// the 2-core reference machine that costs ~25 % more CPU per upload than 2 for no gain in time
// (bench/results/2026-12-02-frames.md), so it is for hosts with idle cores.
class archive_member_checker final : public body_checker {
public:
    archive_member_checker(std::size_t threads, std::shared_ptr<verifier::check_budget> budget)
        : checker_(threads >= 3 ? verifier::archive_checker(
                                      false, verifier::parallel_frames{threads - 1, std::move(budget)})
                   : threads == 2 ? verifier::archive_checker(false, verifier::archive_check_threads::two)
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
