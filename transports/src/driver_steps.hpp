// Steps the two subprocess drivers (rsync_ssh, rclone) share (neutral: no driver's header): checking a
// push/probe request before anything runs, and judging a run the remote already holds against the local one.
// Header-only (private to transports/src) so no extra Asio translation unit is compiled.
#pragma once

#include "labsync/common/ids.hpp"
#include "labsync/common/on_pool.hpp"
#include "labsync/transports/transport.hpp"
#include "labsync/verifier/manifest_builder.hpp"
#include "labsync/verifier/manifest_diff.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <filesystem>
#include <optional>
#include <string>

namespace labsync::transports::detail {

// The failure a push must end with before it starts, if any (bad ids, run directory missing).
inline std::optional<transport_result> check_push_request(const push_request& request) {
    if (auto why = common::ids_refusal_reason(request.equipment, request.run_id); !why.empty())
        return transport_result::failure(error_kind::rejected, std::move(why));
    std::error_code ec;
    if (!std::filesystem::is_directory(request.run_path, ec))
        return transport_result::failure(error_kind::local_file_vanished,
                                         "run directory " + request.run_path.string() + " is missing");
    return std::nullopt;
}

// The answer a probe must give without asking the remote, if any (ids that would escape the tree).
inline std::optional<probe_result> check_probe_request(const push_request& request) {
    auto why = common::ids_refusal_reason(request.equipment, request.run_id);
    if (why.empty()) return std::nullopt;
    probe_result r;
    r.status = transport_result::failure(error_kind::rejected, std::move(why));
    return r;
}

// The remote already holds `dir` (as `remote`): success when it has the same files as the local
// run (hashed on `cpu` when the request carries no manifest), else a conflict with
// `conflict_message`. The local run is never touched.
inline boost::asio::awaitable<transport_result> judge_against_local(const push_request& request,
                                                                    const probe_result& remote,
                                                                    const std::string& dir,
                                                                    boost::asio::any_io_executor cpu,
                                                                    std::string conflict_message) {
    std::optional<verifier::manifest> built;
    const verifier::manifest* local = request.local_manifest;
    if (!local) {
        auto hash_local = [&request] { return verifier::build_manifest(request.run_path); };
        auto result = co_await common::on_pool(cpu, hash_local);
        if (!result.ok())
            co_return transport_result::failure(error_kind::local_file_vanished,
                                                "cannot hash the local run " + request.run_path.string() +
                                                    " (" + result.error_path +
                                                    "): " + result.error.message());
        built = std::move(result.manifest);
        local = &*built;
    }
    if (remote.present && remote.remote_manifest && verifier::same_files(*remote.remote_manifest, *local)) {
        auto ok = transport_result::success();
        ok.message = "already present with identical content at " + dir;
        co_return ok;
    }
    co_return transport_result::failure(error_kind::conflict, std::move(conflict_message));
}

}  // namespace labsync::transports::detail
