// Fuzzes the sha256sum and JSON manifest parsers: they read what remote hosts print (rsync probe,
// rclone hashsum) and what archives carry. Any accepted text must round-trip.
#include "labsync/verifier/manifest.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::error_code ec;
    auto m = labsync::verifier::manifest::parse_sha256sum(text, ec);
    if (!ec) {
        std::error_code ec2;
        auto again = labsync::verifier::manifest::parse_sha256sum(m.to_sha256sum(), ec2);
        if (ec2 || !(again == m)) std::abort();
    }
    auto j = labsync::verifier::manifest::parse_json(text, ec);
    if (!ec) (void)j.to_json();
    return 0;
}
