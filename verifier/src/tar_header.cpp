#include "labsync/verifier/tar_header.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace labsync::verifier {
namespace {

// ustar field offsets and widths (POSIX.1-2001, "ustar Interchange Format").
constexpr std::size_t name_off = 0, name_len = 100;
constexpr std::size_t mode_off = 100;
constexpr std::size_t uid_off = 108;
constexpr std::size_t gid_off = 116;
constexpr std::size_t size_off = 124;
constexpr std::size_t mtime_off = 136;
constexpr std::size_t chksum_off = 148;
constexpr std::size_t typeflag_off = 156;
constexpr std::size_t magic_off = 257;
constexpr std::size_t version_off = 263;

// The fixed name of every pax extended header: constant, so archives stay byte-identical
// (GNU tar puts its pid there).
constexpr std::string_view pax_header_name = "././@PaxHeader";

// Writes `value` as `width - 1` zero-padded octal digits and a NUL terminator.
void put_octal(unsigned char* block, std::size_t off, std::size_t width, std::uint64_t value) {
    std::size_t digits = width - 1;
    for (std::size_t i = digits; i-- > 0;) {
        block[off + i] = static_cast<unsigned char>('0' + (value & 7));
        value >>= 3;
    }
    block[off + digits] = '\0';
}

bool plain_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f;
    });
}

std::string ustar_name(const tar_entry& entry) {
    std::string name = entry.path;
    if (entry.type == tar_entry_type::directory) name.push_back('/');
    return name;
}

void append_block(std::string& out, std::string_view name, char typeflag, std::uint64_t size,
                  std::uint64_t mtime, std::uint32_t mode) {
    unsigned char block[tar_block_size] = {};
    std::memcpy(block + name_off, name.data(), std::min(name.size(), name_len));
    put_octal(block, mode_off, 8, mode & 07777);
    put_octal(block, uid_off, 8, 0);
    put_octal(block, gid_off, 8, 0);
    put_octal(block, size_off, 12, size);
    put_octal(block, mtime_off, 12, mtime);
    block[typeflag_off] = static_cast<unsigned char>(typeflag);
    std::memcpy(block + magic_off, "ustar", 6);  // with its NUL
    std::memcpy(block + version_off, "00", 2);
    // uname/gname/devmajor/devminor/prefix stay empty (all NUL).
    std::uint32_t sum = tar_header_checksum(block);
    // Six octal digits, NUL, space: the form every tar writes.
    for (std::size_t i = 6; i-- > 0;) {
        block[chksum_off + i] = static_cast<unsigned char>('0' + (sum & 7));
        sum >>= 3;
    }
    block[chksum_off + 6] = '\0';
    block[chksum_off + 7] = ' ';
    out.append(reinterpret_cast<const char*>(block), tar_block_size);
}

}  // namespace

std::uint32_t tar_header_checksum(const unsigned char* block) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i < tar_block_size; ++i)
        sum += (i >= chksum_off && i < chksum_off + 8) ? ' ' : block[i];
    return sum;
}

std::string pax_record(std::string_view key, std::string_view value) {
    // The length prefix counts its own digits: grow the guess until it is self-consistent.
    std::size_t body = 1 + key.size() + 1 + value.size() + 1;  // ' ' key '=' value '\n'
    std::size_t len = body + 1;
    while (std::to_string(len).size() + body != len) len = std::to_string(len).size() + body;
    std::string rec = std::to_string(len);
    rec.push_back(' ');
    rec.append(key);
    rec.push_back('=');
    rec.append(value);
    rec.push_back('\n');
    return rec;
}

bool tar_needs_pax(const tar_entry& entry) {
    std::string name = ustar_name(entry);
    return name.size() > name_len || !plain_ascii(name) || entry.size > tar_octal11_max || entry.mtime < 0 ||
           static_cast<std::uint64_t>(entry.mtime) > tar_octal11_max;
}

void append_tar_header(std::string& out, const tar_entry& entry) {
    std::string name = ustar_name(entry);
    std::uint64_t size = entry.type == tar_entry_type::directory ? 0 : entry.size;
    bool mtime_fits = entry.mtime >= 0 && static_cast<std::uint64_t>(entry.mtime) <= tar_octal11_max;
    if (tar_needs_pax(entry)) {
        // Records in a fixed order (path, size, mtime), only those ustar cannot hold.
        std::string records;
        if (name.size() > name_len || !plain_ascii(name)) records += pax_record("path", name);
        if (size > tar_octal11_max) records += pax_record("size", std::to_string(size));
        if (!mtime_fits) records += pax_record("mtime", std::to_string(entry.mtime));
        append_block(out, pax_header_name, 'x', records.size(), 0, 0644);
        out += records;
        out.append(tar_padding(records.size()), '\0');
    }
    // The ustar fields carry what fits; a reader takes the pax values over them. A long name is
    // truncated to its first 100 bytes (the pax path is authoritative).
    append_block(out, name, entry.type == tar_entry_type::directory ? '5' : '0',
                 size > tar_octal11_max ? 0 : size, mtime_fits ? static_cast<std::uint64_t>(entry.mtime) : 0,
                 entry.mode);
}

}  // namespace labsync::verifier
