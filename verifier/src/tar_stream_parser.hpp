#pragma once
// Push parser for the tar stream inside an archive (after decompression): ustar headers, pax 'x'
// extended headers (path, size), regular files and directories. Anything else is rejected with a
// reason. Each regular member is hashed as its bytes pass; the embedded manifest member is kept
// as text. Private to the verifier module; driven by archive_checker.

#include "labsync/verifier/sha256.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace labsync::verifier::detail {

struct tar_member_digest {
    std::string path;
    std::uint64_t size = 0;
    sha256_digest digest{};
};

class tar_stream_parser {
public:
    // Largest pax extended header and embedded manifest accepted; larger is called corrupt.
    static constexpr std::uint64_t max_pax_size = 1u << 20;
    static constexpr std::uint64_t max_manifest_size = 1ull << 30;
    // Sizes beyond this (1 PiB) are taken as corruption, not as data to wait for.
    static constexpr std::uint64_t max_member_size = 1ull << 50;

    // False once an error is recorded (see error()).
    bool consume(const std::byte* data, std::size_t size);
    // Called at the end of input: false (with an error) unless the end-of-archive marker was seen.
    bool finish();

    std::error_code error() const noexcept { return error_; }
    const std::string& error_path() const noexcept { return error_path_; }
    const std::string& error_reason() const noexcept { return error_reason_; }

    // Where the walk stands, to place an error of the compressed stream: the member whose data is
    // being read (true), else the last member read in full (false; "" before the first).
    std::pair<std::string, bool> position() const {
        if (state_ == state::member_data || state_ == state::manifest_data) return {current_path_, true};
        return {last_member_, false};
    }

    std::vector<tar_member_digest>& files() noexcept { return files_; }
    std::uint64_t members_seen() const noexcept { return members_seen_; }
    bool manifest_seen() const noexcept { return manifest_seen_; }
    const std::string& manifest_text() const noexcept { return manifest_text_; }

private:
    enum class state { header, pax_data, member_data, manifest_data, padding, second_zero_block, trailer };

    bool on_header();
    bool on_pax(std::string_view records);
    bool fail(std::error_code ec, std::string path, std::string reason);
    bool start_data(std::uint64_t size, state next);
    void end_of_data();

    state state_ = state::header;
    unsigned char block_[512] = {};
    std::size_t block_fill_ = 0;
    std::uint64_t remaining_ = 0;  // bytes left in the current data or padding
    std::size_t padding_after_ = 0;
    std::string current_path_;
    std::string last_member_;
    std::uint64_t current_size_ = 0;
    std::string pax_buffer_;
    std::optional<std::string> pax_path_;
    std::optional<std::uint64_t> pax_size_;
    sha256 hasher_;
    std::vector<tar_member_digest> files_;
    std::uint64_t members_seen_ = 0;
    bool manifest_seen_ = false;
    std::string manifest_text_;
    std::error_code error_;
    std::string error_path_;
    std::string error_reason_;
};

}  // namespace labsync::verifier::detail
