#include "labsync/verifier/sha256.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace labsync::verifier {
namespace {

EVP_MD_CTX* as_ctx(void* p) { return static_cast<EVP_MD_CTX*>(p); }

void init(void* ctx) {
    if (EVP_DigestInit_ex(as_ctx(ctx), EVP_sha256(), nullptr) != 1)
        throw std::runtime_error("EVP_DigestInit_ex(sha256) failed");
}

}  // namespace

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr) throw std::bad_alloc();
    init(ctx_);
}

sha256::~sha256() { EVP_MD_CTX_free(as_ctx(ctx_)); }

sha256::sha256(sha256&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }

sha256& sha256::operator=(sha256&& other) noexcept {
    std::swap(ctx_, other.ctx_);
    return *this;
}

void sha256::update(std::span<const std::byte> data) {
    if (!data.empty()) EVP_DigestUpdate(as_ctx(ctx_), data.data(), data.size());
}

void sha256::update(std::string_view data) { update(std::as_bytes(std::span(data.data(), data.size()))); }

sha256_digest sha256::finish() {
    sha256_digest out{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(as_ctx(ctx_), out.data(), &len);
    init(ctx_);
    return out;
}

sha256_digest sha256::of(std::string_view data) {
    sha256 h;
    h.update(data);
    return h.finish();
}

std::string to_hex(const sha256_digest& digest) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(64, '0');
    for (std::size_t i = 0; i < digest.size(); ++i) {
        out[2 * i] = digits[digest[i] >> 4];
        out[2 * i + 1] = digits[digest[i] & 0xf];
    }
    return out;
}

std::optional<sha256_digest> digest_from_hex(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    sha256_digest out{};
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return out;
}

}  // namespace labsync::verifier
