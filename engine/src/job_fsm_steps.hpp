// Private: the action builders and the event check job_fsm's files share (job_fsm.cpp,
// job_fsm_cleanup.cpp).
#pragma once

#include "labsync/engine/job_fsm.hpp"

#include <stdexcept>
#include <string>

namespace labsync::engine::detail {

inline job_action commit(queue::job_state to, queue::transition_details details) {
    job_action a;
    a.kind = job_action_kind::commit;
    a.to = to;
    a.details = std::move(details);
    return a;
}

inline job_action simple(job_action_kind kind) {
    job_action a;
    a.kind = kind;
    return a;
}

template <class E>
E& expect(job_event& event, const char* what) {
    if (auto* e = std::get_if<E>(&event)) return *e;
    throw std::logic_error(std::string("job_fsm: unexpected event while waiting for ") + what);
}

}  // namespace labsync::engine::detail
