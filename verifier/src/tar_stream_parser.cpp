#include "tar_stream_parser.hpp"

#include "relative_path.hpp"

#include "labsync/verifier/archive_writer.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/tar_header.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace labsync::verifier::detail {
namespace {

std::error_code corrupt() {
    return make_error_code(errc::archive_corrupt);
}

// A NUL-terminated (or full-width) string field.
std::string_view field(const unsigned char* block, std::size_t off, std::size_t len) {
    const char* p = reinterpret_cast<const char*>(block + off);
    return {p, strnlen(p, len)};
}

// An octal numeric field: optional leading spaces, digits, then NUL/space padding.
std::optional<std::uint64_t> octal(const unsigned char* block, std::size_t off, std::size_t len) {
    std::size_t i = off, end = off + len;
    while (i < end && block[i] == ' ') ++i;
    std::uint64_t v = 0;
    std::size_t digits = 0;
    for (; i < end && block[i] >= '0' && block[i] <= '7'; ++i, ++digits) {
        if (v >> 60) return std::nullopt;
        v = v * 8 + (block[i] - '0');
    }
    for (; i < end; ++i)
        if (block[i] != ' ' && block[i] != '\0') return std::nullopt;
    if (digits == 0) return std::nullopt;
    return v;
}

bool all_zero(const unsigned char* p, std::size_t n) {
    return std::all_of(p, p + n, [](unsigned char c) { return c == 0; });
}

const char* unsupported_type(char t) {
    switch (t) {
        case '1':
            return "hard links are not supported";
        case '2':
            return "symbolic links are not supported";
        case '3':
            return "character devices are not supported";
        case '4':
            return "block devices are not supported";
        case '6':
            return "fifos are not supported";
        case 'g':
            return "global pax headers ('g') are not supported";
        case 'L':
        case 'K':
            return "GNU long name headers are not supported";
        default:
            return "unsupported member type";
    }
}

}  // namespace

bool tar_stream_parser::fail(std::error_code ec, std::string path, std::string reason) {
    if (!error_) {
        error_ = ec;
        error_path_ = std::move(path);
        error_reason_ = std::move(reason);
    }
    return false;
}

bool tar_stream_parser::consume(const std::byte* data, std::size_t size) {
    const auto* p = reinterpret_cast<const unsigned char*>(data);
    while (size > 0) {
        if (error_) return false;
        switch (state_) {
            case state::header:
            case state::second_zero_block: {
                std::size_t n = std::min(size, tar_block_size - block_fill_);
                std::memcpy(block_ + block_fill_, p, n);
                block_fill_ += n;
                p += n;
                size -= n;
                if (block_fill_ == tar_block_size) {
                    block_fill_ = 0;
                    if (!on_header()) return false;
                }
                break;
            }
            case state::pax_data:
            case state::manifest_data:
            case state::member_data:
            case state::padding: {
                auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size, remaining_));
                if (state_ == state::member_data)
                    hasher_.update(std::span<const std::byte>(reinterpret_cast<const std::byte*>(p), n));
                else if (state_ == state::pax_data)
                    pax_buffer_.append(reinterpret_cast<const char*>(p), n);
                else if (state_ == state::manifest_data)
                    manifest_text_.append(reinterpret_cast<const char*>(p), n);
                p += n;
                size -= n;
                remaining_ -= n;
                if (remaining_ == 0) end_of_data();
                break;
            }
            case state::trailer:
                // Only zero blocking (as tar pads to its record size) may follow the end marker.
                if (!all_zero(p, size))
                    return fail(corrupt(), "", "trailing garbage after the end-of-archive marker");
                size = 0;
                break;
        }
    }
    return !error_;
}

void tar_stream_parser::end_of_data() {
    switch (state_) {
        case state::member_data:
            last_member_ = current_path_;
            files_.push_back({std::move(current_path_), current_size_, hasher_.finish()});
            break;
        case state::pax_data:
            if (!on_pax(pax_buffer_)) return;
            pax_buffer_.clear();
            break;
        case state::manifest_data:
            last_member_ = current_path_;
            manifest_seen_ = true;
            break;
        default:
            break;
    }
    state_ = state::padding;
    remaining_ = std::exchange(padding_after_, 0);
    if (remaining_ == 0) state_ = state::header;
}

bool tar_stream_parser::start_data(std::uint64_t size, state next) {
    padding_after_ = tar_padding(size);
    remaining_ = size;
    state_ = next;
    if (size == 0) end_of_data();
    return !error_;
}

bool tar_stream_parser::on_header() {
    if (all_zero(block_, tar_block_size)) {
        if (state_ == state::second_zero_block) {
            state_ = state::trailer;
            return true;
        }
        if (pax_path_ || pax_size_) return fail(corrupt(), "", "a pax header is followed by the end marker");
        state_ = state::second_zero_block;
        return true;
    }
    if (state_ == state::second_zero_block)
        return fail(corrupt(), "", "a single zero block inside the archive (half an end marker)");
    auto stored = octal(block_, 148, 8);
    std::uint32_t unsigned_sum = tar_header_checksum(block_);
    std::int64_t signed_sum = 0;
    for (std::size_t i = 0; i < tar_block_size; ++i)
        signed_sum += (i >= 148 && i < 156) ? ' ' : static_cast<signed char>(block_[i]);
    if (!stored || (*stored != unsigned_sum && static_cast<std::int64_t>(*stored) != signed_sum))
        return fail(corrupt(), "",
                    "tar header checksum mismatch at member " + std::to_string(members_seen_ + 1));
    if (std::memcmp(block_ + 257, "ustar", 5) != 0)
        return fail(corrupt(), "", "not a ustar/pax header (bad magic)");
    char type = static_cast<char>(block_[156]);
    auto size_field = octal(block_, 124, 12);
    if (!size_field) return fail(corrupt(), "", "malformed size field (base-256 sizes are not supported)");
    std::uint64_t size = pax_size_.value_or(*size_field);

    if (type == 'x') {
        if (pax_path_ || pax_size_) return fail(corrupt(), "", "two pax headers in a row");
        if (size > max_pax_size) return fail(corrupt(), "", "absurd pax header size " + std::to_string(size));
        return start_data(size, state::pax_data);
    }
    std::string path;
    if (pax_path_) {
        path = std::move(*pax_path_);
    } else {
        std::string_view prefix = field(block_, 345, 155);
        if (!prefix.empty()) (path = prefix) += '/';
        path += field(block_, 0, 100);
    }
    pax_path_.reset();
    pax_size_.reset();
    if (type != '0' && type != '\0' && type != '5') return fail(corrupt(), path, unsupported_type(type));
    if (size > max_member_size) return fail(corrupt(), path, "absurd member size " + std::to_string(size));
    if (type == '5') {
        if (!path.empty() && path.back() == '/') path.pop_back();
        if (size != 0) return fail(corrupt(), path, "directory member with data");
    }
    // A member path must stay inside the directory it is extracted to.
    if (!detail::stays_beneath(path))
        return fail(make_error_code(errc::unsafe_path), path, "member path leaves the archive root");
    if (manifest_seen_)
        return fail(make_error_code(errc::manifest_missing), path,
                    "member after the manifest: '.labsync/manifest.sha256' must be the last member");
    ++members_seen_;
    if (type == '5') {
        state_ = state::header;
        return true;
    }
    if (path == archive_manifest_path) {
        if (size > max_manifest_size) return fail(corrupt(), path, "absurd manifest size");
        manifest_text_.reserve(static_cast<std::size_t>(size));
        current_path_ = std::move(path);
        return start_data(size, state::manifest_data);
    }
    current_path_ = std::move(path);
    current_size_ = size;
    return start_data(size, state::member_data);
}

bool tar_stream_parser::on_pax(std::string_view records) {
    while (!records.empty()) {
        std::size_t len = 0;
        auto [ptr, ec] = std::from_chars(records.data(), records.data() + records.size(), len);
        std::size_t digits = static_cast<std::size_t>(ptr - records.data());
        if (ec != std::errc() || digits == 0 || len <= digits + 1 || len > records.size() ||
            records[digits] != ' ' || records[len - 1] != '\n')
            return fail(corrupt(), "", "malformed pax record");
        std::string_view kv = records.substr(digits + 1, len - digits - 2);
        records.remove_prefix(len);
        std::size_t eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) return fail(corrupt(), "", "malformed pax record");
        std::string_view key = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (key == "path") {
            if (value.find('\0') != std::string_view::npos) return fail(corrupt(), "", "NUL in pax path");
            pax_path_ = std::string(value);
        } else if (key == "size") {
            std::uint64_t v = 0;
            auto [p2, ec2] = std::from_chars(value.data(), value.data() + value.size(), v);
            if (ec2 != std::errc() || p2 != value.data() + value.size() || value.empty())
                return fail(corrupt(), "", "malformed pax size");
            pax_size_ = v;
        } else if (key == "linkpath" || key.starts_with("GNU.sparse")) {
            return fail(corrupt(), "", "pax key '" + std::string(key) + "' is not supported");
        }
        // mtime, atime, ctime, uid, gid, uname, gname, comment, charset...: metadata only.
    }
    return true;
}

bool tar_stream_parser::finish() {
    if (error_) return false;
    switch (state_) {
        case state::trailer:
            return true;
        case state::member_data:
        case state::manifest_data:
            return fail(corrupt(), current_path_, "truncated inside a member's data");
        default:
            return fail(corrupt(), "", "truncated tar stream (no end-of-archive marker)");
    }
}

}  // namespace labsync::verifier::detail
