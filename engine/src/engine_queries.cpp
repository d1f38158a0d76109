// The engine's read-only queries (engine.hpp, "queries"): each one takes the API lock that guards
// the store against close(), reads, and turns a store error into an engine_error. Status pages and
// metrics read the queue through these; nothing outside the engine holds the store.
#include "engine_impl.hpp"

namespace labsync::engine {

namespace {

// Runs `read(store)` under the API lock: not_open when there is no store, no_job for an unknown
// job id, store_failed for any other failed read.
template <class T, class Impl, class Read>  // Impl: engine::impl (private: deduced, not named)
query_result<T> read_store(Impl& m, Read read) {
    std::lock_guard lock(m.api_mutex);
    if (!m.store) return {{}, {make_error_code(errc::not_open), "the engine is not open"}};
    auto r = read(*m.store);
    if (r) return {std::move(*r), {}};
    const auto code = r.error().code == queue::errc::job_not_found ? errc::no_job : errc::store_failed;
    return {{}, {make_error_code(code), r.error().message}};
}

}  // namespace

query_result<queue::state_counts> engine::counts() {
    return read_store<queue::state_counts>(*impl_, [](queue::job_store& s) { return s.counts(); });
}

query_result<std::vector<queue::job>> engine::jobs_in_state(queue::job_state state) {
    return read_store<std::vector<queue::job>>(
        *impl_, [state](queue::job_store& s) { return s.jobs_in_state(state); });
}

query_result<std::vector<queue::job>> engine::find_jobs(const queue::job_filter& filter) {
    return read_store<std::vector<queue::job>>(*impl_, [&](queue::job_store& s) { return s.list(filter); });
}

query_result<queue::job> engine::find_job(std::int64_t job_id) {
    return read_store<queue::job>(*impl_, [job_id](queue::job_store& s) { return s.find(job_id); });
}

query_result<std::vector<queue::job_override>> engine::overrides(std::int64_t job_id) {
    return read_store<std::vector<queue::job_override>>(
        *impl_, [job_id](queue::job_store& s) { return s.overrides(job_id); });
}

}  // namespace labsync::engine
