#pragma once
// A unique temporary directory removed (recursively) when the object dies.

#include <filesystem>
#include <string_view>

namespace labsync::test {

class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }
    std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

// Writes `content` to `path`, creating parent directories.
void write_file(const std::filesystem::path& path, std::string_view content);
// The same, mode 0600: for token files, which syncd and syncd-receiver warn about (readable by
// others) or refuse (writable by others) whatever the umask made them.
void write_secret_file(const std::filesystem::path& path, std::string_view content);
std::string read_file(const std::filesystem::path& path);

}  // namespace labsync::test
