#include "labsync/receiver/publish_checked.hpp"

namespace labsync::receiver {

upload_completion publish_checked(const run_store& store, upload_file& file, const std::string& equipment,
                                  const std::string& run, stored_run meta, std::uint64_t bytes,
                                  const std::string& actual, const std::string& claimed,
                                  std::string_view claimed_from, std::error_code check_ec,
                                  const std::string& check_failure) {
    upload_completion o;
    if (actual != claimed) {
        return {422,
                "sha256_mismatch",
                "the body's sha256 is " + actual + " but " + std::string(claimed_from) + " said " + claimed,
                {}};
    }
    if (check_ec) return {422, "member_mismatch", check_failure, {}};
    meta.sha256 = actual;
    meta.bytes = bytes;
    meta.stored_at = rfc3339_now();
    std::error_code pec;
    auto published = store.publish(file, equipment, run, meta, o.stored, pec);
    if (pec) return {500, "store_error", "cannot publish the upload: " + pec.message(), {}};
    o.repaired = published == publish_outcome::repaired;
    o.status = published == publish_outcome::created || o.repaired ? 201
               : published == publish_outcome::same                ? 200
                                                                   : 409;
    if (o.status == 409) {
        o.error = "conflict";
        o.message = "run already stored with sha256 " + o.stored.sha256 + " (" +
                    std::to_string(o.stored.bytes) + " bytes); the upload was " + actual;
    }
    return o;
}

}  // namespace labsync::receiver
