// Unit tests of the deterministic pax/ustar header encoder.
#include "labsync/verifier/tar_header.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>

using namespace labsync::verifier;

namespace {

const unsigned char* block_at(const std::string& s, std::size_t index) {
    return reinterpret_cast<const unsigned char*>(s.data()) + index * tar_block_size;
}

std::string field(const std::string& s, std::size_t index, std::size_t off, std::size_t len) {
    const char* p = s.data() + index * tar_block_size + off;
    return std::string(p, strnlen(p, len));
}

bool checksum_ok(const std::string& s, std::size_t index) {
    std::string stored = field(s, index, 148, 6);
    return std::stoul(stored, nullptr, 8) == tar_header_checksum(block_at(s, index));
}

}  // namespace

TEST_CASE("tar header: a short ASCII path is one ustar block with fixed owner fields", "[archive][unit]") {
    std::string out;
    append_tar_header(out, {"dir/file.bin", tar_entry_type::regular, 1234, 1'793'491'200, 0100644});
    REQUIRE(out.size() == tar_block_size);
    CHECK(field(out, 0, 0, 100) == "dir/file.bin");
    CHECK(field(out, 0, 100, 8) == "0000644");  // mode & 07777
    CHECK(field(out, 0, 108, 8) == "0000000");  // uid 0
    CHECK(field(out, 0, 116, 8) == "0000000");  // gid 0
    CHECK(field(out, 0, 124, 12) == "00000002322");
    CHECK(field(out, 0, 136, 12) == "15271500400");
    CHECK(out[156] == '0');
    CHECK(std::memcmp(out.data() + 257,
                      "ustar\0"
                      "00",
                      8) == 0);
    CHECK(field(out, 0, 265, 32).empty());  // uname
    CHECK(field(out, 0, 297, 32).empty());  // gname
    CHECK(checksum_ok(out, 0));
    CHECK_FALSE(tar_needs_pax({"dir/file.bin", tar_entry_type::regular, 1234, 0, 0644}));
}

TEST_CASE("tar header: directories get a trailing slash, type 5 and size 0", "[archive][unit]") {
    std::string out;
    append_tar_header(out, {"a/b", tar_entry_type::directory, 99, 5, 040755});
    REQUIRE(out.size() == tar_block_size);
    CHECK(field(out, 0, 0, 100) == "a/b/");
    CHECK(out[156] == '5');
    CHECK(field(out, 0, 124, 12) == "00000000000");
    CHECK(field(out, 0, 100, 8) == "0000755");
}

TEST_CASE("tar header: paths over 100 bytes and non-ASCII names go into a pax path record",
          "[archive][unit]") {
    std::string long_path = std::string(150, 'x') + "/" + std::string(120, 'y');  // > 255 too
    for (const std::string& path :
         {long_path, std::string("caf\xc3\xa9 r\xc3\xa9sum\xc3\xa9.txt"), std::string(100, 'z')}) {
        tar_entry e{path, tar_entry_type::regular, 10, 100, 0600};
        bool pax = path.size() > 100 || path.find('\xc3') != std::string::npos;
        CHECK(tar_needs_pax(e) == pax);
        std::string out;
        append_tar_header(out, e);
        if (!pax) {
            CHECK(out.size() == tar_block_size);
            continue;
        }
        std::string record = pax_record("path", path);
        CHECK(out.size() == tar_block_size * (2 + (record.size() + tar_block_size - 1) / tar_block_size));
        CHECK(out[156] == 'x');
        CHECK(field(out, 0, 0, 100) == "././@PaxHeader");
        CHECK(std::stoull(field(out, 0, 124, 12), nullptr, 8) == record.size());
        CHECK(field(out, 0, 136, 12) == "00000000000");  // deterministic: mtime 0
        CHECK(out.compare(tar_block_size, record.size(), record) == 0);
        std::size_t last = out.size() / tar_block_size - 1;
        CHECK(out[last * tar_block_size + 156] == '0');
        CHECK(checksum_ok(out, 0));
        CHECK(checksum_ok(out, last));
    }
}

TEST_CASE("tar header: sizes of 8 GiB and more are carried by a pax size record", "[archive][unit]") {
    const std::uint64_t just_fits = tar_octal11_max;  // 8 GiB - 1
    std::string small;
    append_tar_header(small, {"f", tar_entry_type::regular, just_fits, 0, 0644});
    CHECK(small.size() == tar_block_size);
    CHECK(field(small, 0, 124, 12) == "77777777777");

    const std::uint64_t big = 8ull << 30;  // 8 GiB
    for (std::uint64_t size : {big, std::uint64_t{20} << 40}) {
        std::string out;
        append_tar_header(out, {"f", tar_entry_type::regular, size, 0, 0644});
        REQUIRE(out.size() == 3 * tar_block_size);
        std::string record = pax_record("size", std::to_string(size));
        CHECK(out.compare(tar_block_size, record.size(), record) == 0);
        CHECK(field(out, 2, 124, 12) == "00000000000");  // the pax value is authoritative
        CHECK(checksum_ok(out, 2));
    }
}

TEST_CASE("tar header: mtimes outside ustar's range use a pax mtime record", "[archive][unit]") {
    std::string out;
    append_tar_header(out, {"old", tar_entry_type::regular, 0, -86400, 0644});
    REQUIRE(out.size() == 3 * tar_block_size);
    CHECK(out.compare(tar_block_size, 16, pax_record("mtime", "-86400")) == 0);
}

TEST_CASE("tar header: pax record lengths count their own digits", "[archive][unit]") {
    CHECK(pax_record("path", "a") == "9 path=a\n");
    // 1 + 4 + 1 + v + 1 body bytes; around the 1 -> 2 and 2 -> 3 digit boundaries.
    for (std::size_t v = 0; v < 1200; ++v) {
        std::string rec = pax_record("path", std::string(v, 'p'));
        CHECK(std::stoul(rec) == rec.size());
    }
}

TEST_CASE("tar header: identical entries encode to identical bytes", "[archive][unit]") {
    tar_entry e{std::string(300, 'q'), tar_entry_type::regular, 9ull << 30, 1, 0640};
    std::string a, b;
    append_tar_header(a, e);
    append_tar_header(b, e);
    CHECK(a == b);
    CHECK(tar_padding(0) == 0);
    CHECK(tar_padding(1) == 511);
    CHECK(tar_padding(512) == 0);
}
