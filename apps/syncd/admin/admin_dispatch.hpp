#pragma once
// Answers admin requests from the engine's thread-safe API (its queries included: no store
// access). Runs on the daemon's handler pool. Run references (EQUIPMENT/RUN, RUN, #ID, path) are resolved to
// a run path here. The operator recorded for override / retry / cancel is context.peer_user; a request's own
// "who" is only appended as a note ("client-supplied name: ...").

#include "admin/admin_protocol.hpp"
#include "admin/status_view.hpp"

#include "labsync/engine/engine.hpp"

#include <string>
#include <vector>

namespace labsync::apps {

struct admin_context {
    engine::engine* engine = nullptr;  // null while the daemon reloads
    daemon_info daemon;
    std::vector<std::string> equipment;  // configured names, in order
    const progress_tracker* progress = nullptr;
    std::string peer_user;  // the connecting user (SO_PEERCRED): the recorded operator
};

admin_response dispatch_admin(const admin_request& request, const admin_context& context);

}  // namespace labsync::apps
