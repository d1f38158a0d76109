#pragma once
// Many relative paths in one contiguous buffer. A run of a million files would otherwise hold a
// million heap strings (32 bytes of std::string plus a malloc chunk each); here a path costs its
// bytes plus an 8-byte path_ref in a fixed-size record (manifest, walk). Paths are arbitrary bytes
// (not necessarily UTF-8, no terminator). A path_ref stays valid while its arena lives, also
// across moves of the arena; string_views into it are invalidated by add().

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace labsync::verifier {

// Where one path lies in its arena: up to 1 TiB of path bytes, each path up to 16 MiB.
struct path_ref {
    std::uint64_t offset : 40 = 0;
    std::uint64_t length : 24 = 0;
};
static_assert(sizeof(path_ref) == 8);

class path_arena {
public:
    static constexpr std::uint64_t max_bytes = (std::uint64_t{1} << 40) - 1;
    static constexpr std::uint64_t max_path = (std::uint64_t{1} << 24) - 1;

    // Appends `path` (which must not view this arena); std::length_error beyond the limits above.
    path_ref add(std::string_view path) { return add_joined({}, path); }
    // Appends `prefix + '/' + name`, or just `name` when prefix is empty.
    path_ref add_joined(std::string_view prefix, std::string_view name);

    std::string_view get(path_ref ref) const noexcept {
        return {bytes_.data() + ref.offset, static_cast<std::size_t>(ref.length)};
    }
    std::size_t size_bytes() const noexcept { return bytes_.size(); }
    void reserve(std::size_t bytes) { bytes_.reserve(bytes); }

private:
    std::string bytes_;
};

// A random-access iterator over a list whose operator[] returns its elements by value (the views
// a path arena's records are presented as). `List` has value_type and operator[](std::size_t).
template <class List>
class indexed_iterator {
public:
    using value_type = typename List::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = value_type;
    using iterator_concept = std::random_access_iterator_tag;
    using iterator_category = std::input_iterator_tag;  // elements are values, not references

    struct arrow {
        value_type value;
        const value_type* operator->() const noexcept { return &value; }
    };

    indexed_iterator() = default;
    indexed_iterator(const List* list, std::size_t index) : list_(list), index_(index) {}

    value_type operator*() const { return (*list_)[index_]; }
    arrow operator->() const { return {**this}; }
    value_type operator[](difference_type n) const { return (*list_)[index_ + n]; }
    indexed_iterator& operator++() { return ++index_, *this; }
    indexed_iterator operator++(int) { return {list_, index_++}; }
    indexed_iterator& operator--() { return --index_, *this; }
    indexed_iterator operator--(int) { return {list_, index_--}; }
    indexed_iterator& operator+=(difference_type n) { return index_ += n, *this; }
    indexed_iterator& operator-=(difference_type n) { return index_ -= n, *this; }
    friend indexed_iterator operator+(indexed_iterator it, difference_type n) { return it += n; }
    friend indexed_iterator operator+(difference_type n, indexed_iterator it) { return it += n; }
    friend indexed_iterator operator-(indexed_iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const indexed_iterator& a, const indexed_iterator& b) {
        return static_cast<difference_type>(a.index_) - static_cast<difference_type>(b.index_);
    }
    friend bool operator==(const indexed_iterator& a, const indexed_iterator& b) {
        return a.index_ == b.index_;
    }
    friend auto operator<=>(const indexed_iterator& a, const indexed_iterator& b) {
        return a.index_ <=> b.index_;
    }

private:
    const List* list_ = nullptr;
    std::size_t index_ = 0;
};

}  // namespace labsync::verifier
