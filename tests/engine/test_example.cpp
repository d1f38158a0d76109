// examples/acquisition_server against a real syncd-receiver: the embedded engine (configured by a
// syncd.toml, run by the blocking engine::run()) ships every run the "instrument" writes, proves
// it, deletes it locally, and the receiver holds the archives.
#include "receiver_fixture.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

namespace fs = std::filesystem;

TEST_CASE("example: acquisition_server ships its runs to a real receiver", "[engine][example]") {
    labsync::test::receiver_fixture rx;
    labsync::test::temp_dir work;
    labsync::test::write_secret_file(work / "token",
                                     std::string(labsync::test::receiver_options::lab_token) + "\n");
    // The example reads its configuration with labsync::load_config(): relative paths are the file's.
    fs::create_directories(work / "site");
    labsync::test::write_file(work / "site/syncd.toml",
                              "[global]\nstate_dir = \"state\"\ncleanup_interval = \"1s\"\n"
                              "[global.backoff]\nbase = \"200ms\"\ncap = \"5s\"\n"
                              "max_attempts = 20\n"
                              "[equipment.lab-microscope]\nruns_root = \"runs\"\n"
                              "settle = \"0s\"\nretention = \"0s\"\n"
                              "[equipment.lab-microscope.gate]\nmeta_json_required = true\n"
                              "[equipment.lab-microscope.transport]\nkind = \"http_put\"\n"
                              "url = \"" +
                                  rx.url() + "\"\ntoken_file = \"" + (work / "token").string() + "\"\n");
    labsync::test::process_options options;
    options.timeout = std::chrono::seconds(100);
    auto r = labsync::test::run_process(
        {LABSYNC_ACQUISITION_SERVER, (work / "site/syncd.toml").string(), "4"}, options);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("4 of 4 runs shipped, verified and cleaned") != std::string::npos);
    for (const auto* run : {"run-001", "run-002", "run-003", "run-004"})
        CHECK_FALSE(fs::exists(work / "site/runs" / run));
    std::size_t stored = 0;
    for (const auto& e : fs::recursive_directory_iterator(rx.store()))
        if (e.is_regular_file() && e.path().string().find("run-00") != std::string::npos) ++stored;
    CHECK(stored >= 4);
}
