#pragma once
// Streaming SHA-256 on OpenSSL EVP (uses SHA-NI where the CPU has it).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace labsync::verifier {

using sha256_digest = std::array<std::uint8_t, 32>;

class sha256 {
public:
    sha256();
    ~sha256();
    sha256(sha256&& other) noexcept;
    sha256& operator=(sha256&& other) noexcept;
    sha256(const sha256&) = delete;
    sha256& operator=(const sha256&) = delete;

    void update(std::span<const std::byte> data);
    void update(std::string_view data);
    // Returns the digest and resets the object for a new message.
    sha256_digest finish();

    static sha256_digest of(std::string_view data);

private:
    void* ctx_;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay private
};

std::string to_hex(const sha256_digest& digest);
// Accepts exactly 64 lowercase or uppercase hex digits.
std::optional<sha256_digest> digest_from_hex(std::string_view hex);

}  // namespace labsync::verifier
