#include "http_put_harness.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <random>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace labsync::test {

receiver_options small_parts(const std::filesystem::path& store) {
    receiver_options o;
    o.store = store;
    o.extra_args = {"--max-body", "1M"};
    return o;
}

void make_run(const fs::path& run, int files, std::size_t bytes_each, unsigned seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < files; ++i) {
        std::string content(bytes_each, '\0');
        for (auto& c : content) c = static_cast<char>(rng());
        write_file(run / ("data-" + std::to_string(i) + ".bin"), content);
    }
    write_file(run / "meta.json", "{\"seed\": " + std::to_string(seed) + "}\n");
}

transports::outbox_ops counting_ops::ops() {
    auto base = transports::default_outbox_ops();
    transports::outbox_ops out;
    out.pack = [base, n = packs](const fs::path& run, const fs::path& archive, int level,
                                 const transports::progress_fn& progress) {
        ++*n;
        return base.pack(run, archive, level, progress);
    };
    out.check = [base, n = checks](const fs::path& archive, const transports::progress_fn& progress) {
        ++*n;
        return base.check(archive, progress);
    };
    out.stream = [base, n = packs](const fs::path& run, const verifier::archive_sink& sink, int level,
                                   const transports::progress_fn& progress) {
        ++*n;
        return base.stream(run, sink, level, progress);
    };
    return out;
}

class pacing_limiter::lease final : public transports::bandwidth_lease {
public:
    explicit lease(pacing_limiter& owner) : owner_(owner) {}
    std::chrono::nanoseconds reserve(std::uint64_t bytes) override {
        ++owner_.calls_;
        auto now = std::chrono::steady_clock::now();
        if (owner_.next_ < now) owner_.next_ = now;
        auto wait = owner_.next_ - now;
        owner_.next_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(static_cast<double>(bytes) / owner_.rate_));
        return wait;
    }
    std::uint64_t rate() const override { return static_cast<std::uint64_t>(owner_.rate_); }
    void on_change(std::function<void(std::uint64_t)>) override {}

private:
    pacing_limiter& owner_;
};

std::unique_ptr<transports::bandwidth_lease> pacing_limiter::begin_transfer() {
    ++transfers_;
    return std::make_unique<lease>(*this);
}

struct driver_harness::impl {
    asio::io_context io;
    asio::thread_pool pool{2};
};

driver_harness::driver_harness(transports::http_put_config config, transports::outbox_ops ops)
    : impl_(std::make_unique<impl>()) {
    driver_ =
        transports::http_put::create(std::move(config), impl_->pool.get_executor(), &why_, std::move(ops));
}

driver_harness::~driver_harness() {
    driver_.reset();
    impl_->pool.join();
}

namespace {

template <class T, class F>
T run_sync(asio::io_context& io, F f) {
    T out;
    std::exception_ptr error;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { out = co_await f(); }, [&](std::exception_ptr e) { error = e; });
    io.restart();
    io.run();
    if (error) std::rethrow_exception(error);
    return out;
}

}  // namespace

transports::push_result driver_harness::push_with_proof(const transports::push_request& request) {
    return run_sync<transports::push_result>(impl_->io, [&] { return driver_->push(request); });
}

transports::transport_result driver_harness::push(const transports::push_request& request) {
    return push_with_proof(request).status;
}

transports::probe_result driver_harness::probe(const transports::push_request& request) {
    return run_sync<transports::probe_result>(impl_->io, [&] { return driver_->probe(request); });
}

transports::push_request request_for(const std::string& equipment, const fs::path& run) {
    transports::push_request r;
    r.equipment = equipment;
    r.run_id = run.filename().string();
    r.run_path = run;
    return r;
}

}  // namespace labsync::test
