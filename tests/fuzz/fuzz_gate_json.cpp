// Fuzzes the gate's reading of an external validator's output (SPEC §9): whatever a site's script
// prints, interpret_external_run must return findings (never throw, never crash), and output it
// cannot read must become a hard finding so a run is never shipped on a misread "all clear".
#include "labsync/engine/external_check.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace labsync::engine;
    if (size < 1) return 0;
    external_run run;
    run.started = true;
    // First byte: exit status shape (0 most of the time, so the JSON path is explored).
    std::uint8_t mode = data[0];
    run.exit_code = (mode & 0xC0) == 0xC0 ? int(mode & 0x3F) : 0;
    if ((mode & 0xF0) == 0x80) {
        run.exit_code = -1;
        run.signal = 9;
    }
    run.out.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    run.err = "fuzz";
    std::vector<std::string> argv{"/usr/local/bin/site-check", "--strict"};
    std::vector<gate_finding> findings;
    try {
        findings = interpret_external_run(argv, run, std::chrono::milliseconds(5000));
    } catch (...) {
        std::abort();  // expected failures are findings, not exceptions
    }
    for (const auto& f : findings)
        if (f.code.empty()) std::abort();
    (void)to_json(findings);
    return 0;
}
