#pragma once
// Deterministic pax/ustar header encoding for the archiver. Pure functions, no I/O, so the
// encoding (long paths, non-ASCII names, sizes beyond ustar's 8 GiB) is unit-tested directly.
//
// Every member gets a plain ustar header (uid/gid 0, empty uname/gname, mode & 07777, mtime in
// seconds). A pax 'x' extended header precedes it only when ustar cannot hold a field exactly: a
// path longer than 100 bytes or not plain ASCII, a size >= 8 GiB, an mtime outside 0..8^11-1.
// The pax header itself is deterministic (fixed name, mtime 0, records in a fixed order).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace labsync::verifier {

inline constexpr std::size_t tar_block_size = 512;
// The largest value an 11-digit octal ustar field holds (8 GiB - 1 for sizes).
inline constexpr std::uint64_t tar_octal11_max = 077777777777ULL;

enum class tar_entry_type { regular, directory };

struct tar_entry {
    std::string path;  // relative, '/'-separated, no trailing '/' (added for directories)
    tar_entry_type type = tar_entry_type::regular;
    std::uint64_t size = 0;  // 0 for directories
    std::int64_t mtime = 0;  // seconds since the epoch
    std::uint32_t mode = 0;  // permission bits; masked with 07777
};

// Appends the header block(s) of `entry` to `out`: [pax 'x' header + its data blocks] + ustar
// header. The member's data and its padding are the caller's.
void append_tar_header(std::string& out, const tar_entry& entry);

// True when `entry` needs a pax extended header.
bool tar_needs_pax(const tar_entry& entry);

// Bytes of zero padding after `size` bytes of member data.
constexpr std::size_t tar_padding(std::uint64_t size) {
    return static_cast<std::size_t>((tar_block_size - size % tar_block_size) % tar_block_size);
}

// One pax record "<len> <key>=<value>\n", where <len> counts the whole record including itself.
std::string pax_record(std::string_view key, std::string_view value);

// Checksum of a 512-byte header with the checksum field taken as eight spaces.
std::uint32_t tar_header_checksum(const unsigned char* block);

}  // namespace labsync::verifier
