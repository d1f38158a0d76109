#pragma once
// The end of every upload, a single PUT or a resumable upload's completing request: the digest
// of what was received against the one claimed, the archive member check, then publication
// through run_store::publish — one place for the answers (docs/protocol.md): 422 sha256_mismatch
// or member_mismatch (nothing published), 201 stored (or repaired), 200 already stored with this
// sha256, 409 stored with another one, 500 when the store fails. Blocking: run on the disk pool.

#include "labsync/receiver/run_store.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace labsync::receiver {

struct upload_completion {
    int status = 0;
    std::string error, message;  // empty on 201/200
    stored_run stored;           // the sidecar answered (201/200/409)
    bool repaired = false;       // a damaged stored copy was replaced by this upload
};

// `bytes`, `actual`: the size and sha256 of `file`'s content; `claimed`: the client's, from the header named
// `claimed_from`; `check_ec`/`check_failure`: the member check's result. `meta` has the code
// commit and client; sha256, bytes and stored_at are filled here.
upload_completion publish_checked(const run_store& store, upload_file& file, const std::string& equipment,
                                  const std::string& run, stored_run meta, std::uint64_t bytes,
                                  const std::string& actual, const std::string& claimed,
                                  std::string_view claimed_from, std::error_code check_ec,
                                  const std::string& check_failure);

}  // namespace labsync::receiver
