// The one conversion of a transport error kind to the job store's text and back: every kind, its
// pinned name (jobs.db files written by earlier versions hold these names), and a round trip
// through a real store that is closed and opened again.
#include "labsync/engine/stored_error_kind.hpp"
#include "labsync/queue/job_store.hpp"
#include "labsync/transports/error_kind.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using namespace labsync;
using transports::error_kind;

namespace {

// Every kind with the name stored for it. A new kind must be added here (and to SPEC §6).
const std::vector<std::pair<error_kind, std::string>> every_kind{
    {error_kind::none, "none"},
    {error_kind::network, "network"},
    {error_kind::auth, "auth"},
    {error_kind::hash_mismatch, "hash_mismatch"},
    {error_kind::local_file_vanished, "local_file_vanished"},
    {error_kind::conflict, "conflict"},
    {error_kind::rejected, "rejected"},
    {error_kind::misconfigured, "misconfigured"},
    {error_kind::binary_missing, "binary_missing"},
    {error_kind::unknown, "unknown"},
};

}  // namespace

TEST_CASE("stored error kind: every transport kind has a pinned name and comes back as itself",
          "[store][error_kind]") {
    for (const auto& [kind, name] : every_kind) {
        INFO(name);
        const auto info = engine::stored_error(kind, "why");
        CHECK(info.kind == name);
        CHECK(info.text == "why");
        queue::job j;
        j.last_error_kind = info.kind;
        CHECK(engine::stored_error_kind(j) == kind);
    }
    // Every enumerator is in the table: the numeric values are dense from none to unknown.
    CHECK(every_kind.size() == static_cast<std::size_t>(error_kind::unknown) + 1);
}

TEST_CASE("stored error kind: the engine's and the queue's own kinds are not transport kinds",
          "[store][error_kind]") {
    queue::job j;
    CHECK_FALSE(engine::stored_error_kind(j));
    for (std::string other :
         {std::string(queue::validation_error_kind), std::string(queue::cancelled_error_kind),
          std::string("local_changed"), std::string("cleanup_failed"), std::string("")}) {
        INFO(other);
        j.last_error_kind = other;
        CHECK_FALSE(engine::stored_error_kind(j));
    }
}

TEST_CASE("stored error kind: every kind survives a real job store closed and opened again",
          "[store][error_kind]") {
    test::temp_dir dir;
    const auto path = dir / "jobs.db";
    std::vector<std::pair<std::int64_t, error_kind>> written;
    {
        auto store = queue::job_store::open(path);
        REQUIRE(store);
        int n = 0;
        for (const auto& [kind, name] : every_kind) {
            auto job = store->create_job("scope-1", "run-" + std::to_string(n++), "/runs/x",
                                         queue::job_state::queued, "created");
            REQUIRE(job);
            queue::transition_details d;
            d.error = engine::stored_error(kind, "failed as " + name);
            REQUIRE_FALSE(store->transition(job->id, queue::job_state::running, {}));
            const auto err = store->transition(job->id, queue::job_state::queued, d);
            INFO(err.message);
            REQUIRE_FALSE(err);
            written.emplace_back(job->id, kind);
        }
    }
    auto store = queue::job_store::open(path);
    REQUIRE(store);
    for (const auto& [id, kind] : written) {
        auto job = store->find(id);
        REQUIRE(job);
        CHECK(engine::stored_error_kind(*job) == kind);
    }
}

TEST_CASE("transports errc: every kind is an error_code of labsync.transports, none is success",
          "[error_kind][errc]") {
    for (const auto& [kind, name] : every_kind) {
        INFO(name);
        const std::error_code ec = kind;
        CHECK(ec.category().name() == std::string("labsync.transports"));
        CHECK(ec == kind);
        CHECK(static_cast<bool>(ec) == (kind != error_kind::none));
        CHECK_FALSE(ec.message().empty());
        CHECK(ec.message().find("unknown transports error") == std::string::npos);
    }
    CHECK(std::error_code(error_kind::network) != std::error_code(error_kind::auth));
    CHECK(std::error_code(error_kind::network) != std::make_error_code(std::errc::network_unreachable));
}
