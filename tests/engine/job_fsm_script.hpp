#pragma once
// Helpers of the job_fsm tests: jobs, manifests, canned events and an action-log player.

#include "labsync/engine/job_fsm.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

namespace labsync::test::fsm {

using namespace labsync::engine;
namespace ev = labsync::engine::job_events;
using labsync::queue::job_state;
using labsync::transports::error_kind;
using labsync::transports::transport_result;

inline const queue::time_point t0 = queue::time_point(std::chrono::hours(24 * 20000));

inline verifier::manifest files(char content = 'a') {
    verifier::manifest_entry e;
    e.path = "data/a.bin";
    e.size = 3;
    e.sha256.fill(static_cast<std::uint8_t>(content));
    return verifier::manifest({e});
}

inline verifier::build_result built(char content = 'a') {
    verifier::build_result r;
    r.manifest = files(content);
    return r;
}

inline verifier::build_result build_error(std::error_code ec) {
    verifier::build_result r;
    r.error = ec;
    r.error_path = "data/a.bin";
    return r;
}

inline std::string hex(const verifier::manifest& m) {
    return verifier::to_hex(m.digest());
}

inline const std::string sha_a(64, 'a');
inline const std::string sha_b(64, 'b');

inline queue::job job_in(job_state state) {
    queue::job j;
    j.id = 7;
    j.equipment = "seq-1";
    j.run_id = "run-001";
    j.run_path = "/runs/run-001";
    j.state = state;
    return j;
}

// A job as the store holds it after a push by a manifest transport (or http_put with `archive`).
inline queue::job shipped_job(job_state state, std::optional<std::string> archive = std::nullopt) {
    auto j = job_in(state);
    j.attempts = 1;
    j.manifest_digest = hex(files());
    j.tree_digest = verifier::to_hex(verifier::tree_digest(built()));
    j.archive_sha256 = std::move(archive);
    j.finished_at = t0 - std::chrono::hours(48);
    return j;
}

struct fixture {
    retry_policy policy{backoff_config{}, [] { return 0.5; }};
    job_context context(bool cleanup_enabled = true,
                        std::chrono::seconds retention = std::chrono::hours(24)) {
        job_context c;
        c.transport_name = "fake";
        c.policy = &policy;
        c.clock = [] { return t0; };
        c.quarantine_path = "/q/seq-1/run-001";
        c.cleanup_enabled = cleanup_enabled;
        c.retention = retention;
        return c;
    }
};

inline std::string describe(const job_action& a) {
    if (a.kind == job_action_kind::commit) return "commit " + std::string(queue::to_string(a.to));
    return std::string(to_string(a.kind));
}

// Feeds start{} and then `events`; returns every action (and keeps them for detailed checks).
struct action_log {
    std::vector<std::string> names;
    std::vector<job_action> actions;
};
inline action_log play(job_fsm& fsm, std::vector<job_event> events) {
    action_log log;
    auto record = [&](job_action a) {
        log.names.push_back(describe(a));
        log.actions.push_back(std::move(a));
    };
    record(fsm.resume(ev::start{}));
    for (auto& e : events) record(fsm.resume(std::move(e)));
    return log;
}

using names = std::vector<std::string>;

inline ev::pushed push_ok(std::optional<std::string> archive = std::nullopt,
                          std::optional<transports::remote_evidence> evidence = std::nullopt) {
    transports::push_result r;
    r.status = transport_result::success(201);
    r.archive_sha256 = std::move(archive);
    r.evidence = std::move(evidence);
    return {std::move(r)};
}

inline ev::pushed push_failed(error_kind kind, int code = 0) {
    return {transports::push_result::failed(transport_result::failure(kind, "it failed", code))};
}

inline ev::probed probe_manifest(char content = 'a') {
    transports::probe_result p;
    p.status = transport_result::success(200);
    p.present = true;
    p.remote_manifest = files(content);
    return {std::move(p)};
}

inline ev::probed probe_sha(const std::string& sha) {
    transports::probe_result p;
    p.status = transport_result::success(200);
    p.present = true;
    p.archive_sha256 = sha;
    return {std::move(p)};
}

inline ev::probed probe_absent() {
    transports::probe_result p;
    p.status = transport_result::success(404);
    return {std::move(p)};
}

inline ev::probed probe_failed(error_kind kind) {
    transports::probe_result p;
    p.status = transport_result::failure(kind, "probe failed");
    return {std::move(p)};
}

inline transports::remote_evidence evidence_sha(const std::string& sha) {
    transports::remote_evidence e;
    e.present = true;
    e.archive_sha256 = sha;
    return e;
}

inline const ev::committed ok{true};
inline const ev::committed refused{false};

}  // namespace labsync::test::fsm
