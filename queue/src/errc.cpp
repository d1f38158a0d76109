// The queue module's error category.

#include "labsync/queue/errc.hpp"

#include <string>

namespace labsync::queue {
namespace {

class queue_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "labsync.queue"; }
    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
            case errc::illegal_transition:
                return "illegal job state transition";
            case errc::duplicate_live_job:
                return "a live job already exists for this equipment and run";
            case errc::job_not_found:
                return "no such job";
            case errc::invalid_argument:
                return "invalid argument";
            case errc::foreign_database:
                return "not a labsync job store";
            case errc::corrupt_database:
                return "job store is corrupt";
            case errc::newer_schema:
                return "job store was written by a newer labsync";
            case errc::cannot_open:
                return "cannot open job store";
            case errc::sqlite_error:
                return "SQLite error";
            case errc::store_in_use:
                return "job store is owned by another process";
            case errc::store_busy:
                return "job store is locked by another connection";
            case errc::store_full:
                return "the disk holding the job store is full";
            case errc::store_io:
                return "I/O error writing the job store";
        }
        return "unknown queue error " + std::to_string(ev);
    }
};

}  // namespace

const std::error_category& queue_category() noexcept {
    static const queue_category_impl category;
    return category;
}

bool is_transient(std::error_code code) noexcept {
    return code == errc::store_busy || code == errc::store_full || code == errc::store_io;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), queue_category()};
}

}  // namespace labsync::queue
