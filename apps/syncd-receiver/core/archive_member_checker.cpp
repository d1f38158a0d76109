#include "core/body_checker.hpp"

#include "labsync/verifier/archive_checker.hpp"

namespace labsync::receiver {
namespace {

// The verifier's streaming archive checker: decompresses, walks the tar members, hashes each and
// compares them with the embedded `.labsync/manifest.sha256`; it also hashes the raw bytes.
class archive_member_checker final : public body_checker {
public:
    std::error_code feed(std::span<const std::byte> data) override { return checker_.feed(data); }
    std::error_code finish() override { return checker_.finish(); }
    std::string failure() const override {
        const auto& path = checker_.error_path();
        const auto& reason = checker_.error_reason();
        if (path.empty()) return "archive check failed: " + reason;
        return "archive member " + path + ": " + reason;
    }
    std::string sha256() const override { return checker_.sha256(); }

private:
    verifier::archive_checker checker_;
};

}  // namespace

std::unique_ptr<body_checker> make_archive_member_checker() {
    return std::make_unique<archive_member_checker>();
}

}  // namespace labsync::receiver
