#pragma once
// Shared helpers of the http_put integration tests: runs with known content, a driver on its own
// io_context + CPU pool, synchronous push/probe, a counting archiver and a pacing limiter.

#include "labsync/transports/http_put.hpp"

#include "receiver_fixture.hpp"
#include "temp_dir.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace labsync::test {

// Writes a run of `files` files with `bytes_each` pseudo-random (incompressible) bytes; `seed`
// changes the content.
void make_run(const std::filesystem::path& run, int files, std::size_t bytes_each, unsigned seed);

// A receiver on `store` that takes at most 1 MiB per request (--max-body 1M): a run of a few MiB
// goes up in several parts.
receiver_options small_parts(const std::filesystem::path& store);

// The real archiver, counting packs and checks.
struct counting_ops {
    std::shared_ptr<std::atomic<int>> packs = std::make_shared<std::atomic<int>>(0);
    std::shared_ptr<std::atomic<int>> checks = std::make_shared<std::atomic<int>>(0);
    transports::outbox_ops ops();
};

// A limiter allowing `bytes_per_second` to each transfer; counts reserve() calls and transfers.
class pacing_limiter final : public transports::rate_limiter {
public:
    explicit pacing_limiter(double bytes_per_second) : rate_(bytes_per_second) {}
    std::unique_ptr<transports::bandwidth_lease> begin_transfer() override;
    int calls() const { return calls_; }
    int transfers() const { return transfers_; }

private:
    class lease;
    double rate_;
    int calls_ = 0;
    int transfers_ = 0;
    std::chrono::steady_clock::time_point next_{};
};

// One driver with its own executors; push/probe run to completion on the calling thread.
class driver_harness {
public:
    explicit driver_harness(transports::http_put_config config,
                            transports::outbox_ops ops = transports::default_outbox_ops());
    ~driver_harness();

    transports::http_put& driver() { return *driver_; }
    const std::string& create_error() const { return why_; }
    bool created() const { return driver_ != nullptr; }

    transports::push_result push_with_proof(const transports::push_request& request);
    transports::transport_result push(const transports::push_request& request);  // its status
    transports::probe_result probe(const transports::push_request& request);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::unique_ptr<transports::http_put> driver_;
    std::string why_;
};

transports::push_request request_for(const std::string& equipment, const std::filesystem::path& run);

}  // namespace labsync::test
