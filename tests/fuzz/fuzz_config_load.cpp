// Fuzzes the TOML config loader (config/, labsync::config::load_config_text): an operator's typo, a
// truncated file or binary garbage must produce errors naming file/line/key — never a crash, an
// escaping exception, or a config that is reported usable while carrying errors.
#include "labsync/config/config_loader.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    labsync::config::load_result r;
    try {
        r = labsync::config::load_config_text(text, "fuzz.toml", "/nonexistent-labsync-fuzz");
    } catch (...) {
        std::abort();  // every problem of a config file is an error entry, not an exception
    }
    for (const auto& e : r.errors)
        if (e.message.empty() || e.file != "fuzz.toml") std::abort();
    if (!r.ok()) (void)labsync::config::format_errors(r.errors);
    return 0;
}
