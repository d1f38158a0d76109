// See engine_host.hpp.
#include "daemon/engine_host.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <fmt/format.h>

// GCC 12 reports a false mismatched-new-delete on Asio's coroutine frames (GCC bug 109224).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace labsync::apps {

engine::engine_error engine_host::start(const engine::engine_config& config, engine::engine_deps deps,
                                        const std::function<void(engine::engine&)>& opened) {
    auto eng = std::make_unique<engine::engine>(io_, config, std::move(deps));
    if (auto err = eng->open()) return err;
    if (opened) opened(*eng);
    auto promise = std::make_shared<std::promise<void>>();
    auto done = promise->get_future().share();
    boost::asio::co_spawn(io_, eng->async_run(), [log = log_, promise](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                if (log)
                    log(common::log_level::error,
                        fmt::format("engine stopped with an exception: {}", ex.what()));
            }
        }
        promise->set_value();
    });
    std::lock_guard lock(mutex_);
    engine_ = std::move(eng);
    config_ = config;
    done_ = std::move(done);
    return {};
}

bool engine_host::stop(std::chrono::milliseconds grace) {
    if (stuck_) return false;
    std::unique_ptr<engine::engine> eng;
    std::shared_future<void> done;
    {
        std::lock_guard lock(mutex_);
        eng = std::move(engine_);
        done = done_;
    }
    if (!eng) return true;
    eng->cancel();
    if (done.wait_for(grace) != std::future_status::ready) {
        stuck_ = std::move(eng);
        return false;
    }
    eng->close();
    return true;
}

}  // namespace labsync::apps
