#pragma once
// `syncd show RUN` (admin op "show"): one job with everything an operator needs to see why it is
// where it is: the job row, the gate findings recorded when it was created, its event history
// (time, kind, states, who acted, message) and the overrides. Also the findings codec the
// enqueue answer uses.
//
//   {"job":{...job_json...},
//    "findings":[{"severity":"hard","code":"symlink_escape","message":"...","path":"calibration"}],
//    "events":[{"at":"...Z","kind":"created","from":null,"to":"blocked_by_validation",
//               "who":"syncd","message":"blocked by the pre-sync gate: ..."}],
//    "overrides":[{"at":"...Z","who":"alice","why":"..."}]}

#include "admin/admin_protocol.hpp"

#include "labsync/engine/engine.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace labsync::apps {

nlohmann::json findings_json(const std::vector<engine::gate_finding>& findings);

// Who caused an event: the operator an override/retry/cancel event names ("override by alice:
// ..."), else "syncd" (the daemon itself: the watcher, the gate, a worker, a replay).
std::string event_who(const queue::job_event& event);

// An event's message without the " findings=[...]" a created event carries (shown on its own).
std::string event_text(const queue::job_event& event);

admin_response show_job(engine::engine& eng, const queue::job& job);

}  // namespace labsync::apps
