// Group commit: several independent transitions in one BEGIN IMMEDIATE transaction and one
// commit (one fsync under synchronous=FULL), each inside a savepoint of its own so that a refused
// or failed one leaves no trace and does not affect the others.

#include <SQLiteCpp/Transaction.h>

#include "labsync/queue/job_store.hpp"
#include "store_impl.hpp"

namespace labsync::queue {

std::vector<store_error> job_store::transition_all(const std::vector<transition_request>& requests) {
    std::vector<store_error> out(requests.size());
    if (requests.empty()) return out;
    const auto what = "group commit of " + std::to_string(requests.size()) + " transition(s)";
    auto failed = detail::guarded(*impl_, what, [&]() -> store_error {
        auto& db = *impl_->db;
        SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
        for (std::size_t i = 0; i < requests.size(); ++i) {
            const auto& r = requests[i];
            db.exec("SAVEPOINT one_transition");
            try {
                out[i] = detail::apply_transition(*impl_, r.job_id, r.to, r.details);
            } catch (...) {
                out[i] = detail::current_failure(*impl_, "transition of job " + std::to_string(r.job_id));
            }
            if (out[i]) db.exec("ROLLBACK TO one_transition");
            db.exec("RELEASE one_transition");
        }
        tx.commit();
        return {};
    });
    // Nothing of the batch is on disk: every transition that was not refused on its own fails
    // with the commit's error (a transient one is retried by the caller).
    if (failed)
        for (auto& e : out)
            if (!e) e = failed;
    return out;
}

}  // namespace labsync::queue
