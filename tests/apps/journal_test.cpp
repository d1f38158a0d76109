// syncd's journal log shape goes to journald natively with its fields (EQUIPMENT=, RUN=, ...):
// written through the daemon's logger, read back with sd-journal. Skipped (77) where no journald
// runs; its own executable so that the skip hides no other test.
#include "logging.hpp"
#include "skip.hpp"

#include <spdlog/logger.h>
#include <systemd/sd-journal.h>

#include <catch2/catch.hpp>

#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>

using namespace labsync::apps;

TEST_CASE("journal shape: a line with fields reaches journald as structured fields", "[logging][journal]") {
    if (!std::filesystem::exists("/run/systemd/journal/socket"))
        labsync::test::skip_test_without_service("journald", "/run/systemd/journal/socket is missing");
    const std::string message =
        "labsync journal test " + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
    auto logger = make_daemon_logger(log_format::journal, "info");
    labsync::common::log_fields fields;
    fields.equipment = "scope-1";
    fields.run = "run-42";
    fields.job = 42;
    fields.state = "verified";
    fields.bytes = 1024;
    record_log_to(logger)(labsync::common::log_level::info, message, fields);

    sd_journal* j = nullptr;
    REQUIRE(sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY) >= 0);
    REQUIRE(sd_journal_add_match(j, ("MESSAGE=" + message).c_str(), 0) >= 0);
    std::map<std::string, std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (got.empty() && std::chrono::steady_clock::now() < deadline) {
        if (sd_journal_next(j) > 0) {
            for (const char* name :
                 {"EQUIPMENT", "RUN", "JOB", "STATE", "BYTES", "PRIORITY", "SYSLOG_IDENTIFIER"}) {
                const void* data = nullptr;
                std::size_t size = 0;
                if (sd_journal_get_data(j, name, &data, &size) >= 0) {
                    std::string field(static_cast<const char*>(data), size);
                    got[name] = field.substr(field.find('=') + 1);
                }
            }
        } else {
            sd_journal_wait(j, 500'000);  // until journald has written it
        }
    }
    sd_journal_close(j);
    if (got.empty() && !labsync::test::running_as_root())
        labsync::test::skip_test("journald runs but this user cannot read the journal");
    CHECK(got["EQUIPMENT"] == "scope-1");
    CHECK(got["RUN"] == "run-42");
    CHECK(got["JOB"] == "42");
    CHECK(got["STATE"] == "verified");
    CHECK(got["BYTES"] == "1024");
    CHECK(got["PRIORITY"] == "6");
    CHECK(got["SYSLOG_IDENTIFIER"] == "syncd");
}
