// The cleanup loop (SPEC §10): retention / watermark candidates, the deletion interlocks
// re-checked at deletion time, outbox orphan sweep and quarantine pruning.
#include "engine_impl.hpp"

#include "labsync/engine/run_files.hpp"
#include "labsync/verifier/errc.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include <boost/asio/redirect_error.hpp>

#include <sys/stat.h>

namespace labsync::engine {

using queue::job_state;

asio::awaitable<void> engine::impl::cleanup_loop() {
    // Outbox orphans and old quarantine entries first: a restart after a long downtime catches up.
    while (!stopping) {
        co_await cleanup_pass();
        if (stopping) break;
        if (cleanup_requested) {
            cleanup_requested = false;
            continue;
        }
        cleanup_timer->expires_after(config.cleanup_interval.count() > 0
                                         ? std::chrono::steady_clock::duration(config.cleanup_interval)
                                         : std::chrono::steady_clock::duration::max() / 2);
        boost::system::error_code ec;
        co_await cleanup_timer->async_wait(asio::redirect_error(asio::use_awaitable, ec));
        cleanup_requested = false;
    }
}

asio::awaitable<void> engine::impl::cleanup_pass() {
    for (auto& [name, eq] : equipment) {
        if (stopping) co_return;
        queue::job_filter f;
        f.equipment = name;
        // Jobs left cleanup_eligible (replay, or a pass interrupted) are re-checked first.
        f.state = job_state::cleanup_eligible;
        if (auto pending = store->list(f))
            for (auto& j : *pending) {
                if (stopping) co_return;
                co_await cleanup_one(eq, j);
            }
        if (!eq.cfg.cleanup_enabled) continue;
        f.state = job_state::verified;
        auto verified = store->list(f);
        if (!verified) continue;
        bool under = under_watermark(eq);
        const auto candidates = select_cleanup_candidates(*verified, now(), eq.cfg.retention, under);
        for (const auto& c : candidates) {
            if (stopping) co_return;
            if (!c.retention_passed && !(under = under_watermark(eq))) break;  // freed enough
            queue::transition_details d;
            d.message =
                c.retention_passed ? "cleanup: retention passed" : "cleanup: free space under the watermark";
            if (!co_await transition(c.job_id, job_state::cleanup_eligible, d)) continue;
            if (auto j = store->find(c.job_id)) co_await cleanup_one(eq, *j);
        }
    }
    if (stopping) co_return;
    const auto outbox = config.outbox_dir;
    const auto quarantine = config.quarantine_dir;
    const int keep_days = config.quarantine_keep_days;
    const auto t = now();
    // The store is thread-safe; the sweep asks it which archives are still wanted.
    auto* s = &*store;
    auto pool_task = [outbox, quarantine, keep_days, t, s] {
        auto removed = sweep_outbox(outbox, [s](const std::string& equipment, const std::string& run) {
            auto live = s->find_live(equipment, run);
            if (!live) return true;  // cannot tell: keep
            if (!*live) return false;
            const auto st = (*live)->state;
            return st == job_state::queued || st == job_state::running || st == job_state::awaiting_verify ||
                   st == job_state::failed || st == job_state::blocked_by_validation;
        });
        return std::pair{removed, prune_quarantine(quarantine, keep_days, t)};
    };
    const auto sweep = co_await on_pool(std::move(pool_task));
    for (const auto& p : sweep.first) log(log_level::info, "swept orphan outbox archive {}", p.string());
    for (const auto& p : sweep.second)
        log(log_level::info, "pruned quarantine entry {} (older than {} days)", p.string(), keep_days);
}

asio::awaitable<void> engine::impl::cleanup_one(equipment_runtime& eq, queue::job job) {
    cleanup_situation s;
    s.state = job.state;
    s.cleanup_enabled = eq.cfg.cleanup_enabled;
    s.verified_at = job.finished_at;
    s.now = now();
    s.retention = eq.cfg.retention;
    s.under_watermark = under_watermark(eq);
    s.has_verified_digest = job.manifest_digest.has_value();
    const std::filesystem::path run_path = job.run_path;
    struct stat st {};
    const bool run_gone = ::lstat(run_path.c_str(), &st) != 0 && errno == ENOENT;

    // Interlock: the local tree still matches what was verified: the files (manifest digest) and
    // every other entry (tree digest: directories, symlinks, special files added or removed).
    std::optional<verifier::manifest> local;
    std::string local_note;
    if (run_gone) {
        s.local =
            check_result::match;  // a deletion interrupted after unlinking the run: nothing left to keep
    } else {
        auto built = co_await build_manifest(run_path);
        if (stopping) co_return;
        if (built.ok()) {
            const bool files_match =
                job.manifest_digest && verifier::to_hex(built.manifest.digest()) == *job.manifest_digest;
            // Jobs shipped before the tree digest was recorded are compared by their files only.
            const bool tree_matches =
                !job.tree_digest || verifier::to_hex(verifier::tree_digest(built)) == *job.tree_digest;
            s.local = files_match && tree_matches ? check_result::match : check_result::mismatch;
            if (!files_match)
                local_note = "files differ from the verified manifest";
            else if (!tree_matches)
                local_note = fmt::format(
                    "entries added or removed after verification (the tree now holds {} directories, "
                    "{} symlinks or other non-file entries)",
                    built.directories.size(), built.findings.size());
            local = std::move(built.manifest);
        } else if (built.error == verifier::errc::local_file_vanished ||
                   built.error == verifier::errc::local_file_changed) {
            s.local = check_result::mismatch;
        }
    }
    // Interlock: the remote copy is re-confirmed now.
    std::string remote_note;
    {
        auto req = make_request(eq, job, local ? &*local : nullptr);
        auto probe = co_await eq.transport->probe(req);
        if (stopping) co_return;
        if (!probe.status.ok) {
            // The remote answered that its bytes no longer match (a re-hash, not a record):
            // never delete; verify again, which re-ships once (SPEC §7).
            if (probe.status.kind == transports::error_kind::hash_mismatch) s.remote = check_result::mismatch;
            remote_note = probe.status.message;
        } else if (!probe.present) {
            s.remote = check_result::mismatch;
            remote_note = "the remote has no copy";
        } else if (job.archive_sha256 && !job.archive_sha256->empty()) {
            s.remote =
                probe.archive_sha256 == job.archive_sha256 ? check_result::match : check_result::mismatch;
            if (s.remote == check_result::mismatch)
                remote_note = fmt::format("remote sha256 {} != shipped {}",
                                          probe.archive_sha256.value_or("(none)"), *job.archive_sha256);
        } else if (probe.remote_manifest) {
            s.remote = job.manifest_digest &&
                               verifier::to_hex(probe.remote_manifest->digest()) == *job.manifest_digest
                           ? check_result::match
                           : check_result::mismatch;
            if (s.remote == check_result::mismatch && local)
                remote_note = verifier::compare(*local, *probe.remote_manifest).summary();
        }
    }
    const auto verdict = decide_cleanup(s);
    const auto& note = s.local == check_result::mismatch ? local_note : remote_note;
    const auto why = note.empty() ? verdict.reason : fmt::format("{} ({})", verdict.reason, note);
    if (verdict.interlock_failed)
        log(log_level::warning, "{}/{}: cleanup refused: {}", eq.cfg.name, job.run_id, why);
    queue::transition_details d;
    d.message = "cleanup: " + why;
    switch (verdict.action) {
        case cleanup_action::keep:
            break;
        case cleanup_action::back_to_verified:
            co_await transition(job.id, job_state::verified, d);
            break;
        case cleanup_action::reverify:
            if (co_await transition(job.id, job_state::awaiting_verify, d)) {
                eq.verify_pending.push_back(job.id);
                wake(eq);
            }
            break;
        case cleanup_action::fail:
            d.error = queue::error_info{"local_changed", why};
            co_await transition(job.id, job_state::failed, d);
            break;
        case cleanup_action::delete_run: {
            std::error_code ec;
            std::string where;
            {
                // Also when the run is gone: a deletion interrupted after its rename leaves a
                // tombstone that this removes.
                const auto parent = run_path.parent_path();
                const auto name = run_path.filename().string();
                auto pool_task = [parent, name] {
                    std::string at;
                    auto err = remove_run_tree(parent, name, &at);
                    return std::pair{err, at};
                };
                std::tie(ec, where) = co_await on_pool(std::move(pool_task));
            }
            if (ec) {
                d.message = fmt::format("cleanup: deleting the run failed at '{}': {}", where, ec.message());
                d.error = queue::error_info{"cleanup_failed", d.message};
                co_await transition(job.id, job_state::verified, d);
                break;
            }
            d.message =
                run_gone ? "cleaned: the local run was already gone (" + why + ")" : "cleaned: " + why;
            co_await transition(job.id, job_state::cleaned, d);
            log(log_level::info, "{}/{}: local run deleted", eq.cfg.name, job.run_id);
            break;
        }
    }
}

}  // namespace labsync::engine
