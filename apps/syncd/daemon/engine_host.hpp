#pragma once
// The daemon's engine slot (lifecycle): starts an engine on the io_context, stops it within a
// grace period, swaps it on reload. Every other thread reaches the engine only through with() /
// try_with(), under the slot's lock; while no engine runs (between stop and start of a reload)
// they get a null engine. No lock is held while an engine stops.

#include "labsync/engine/engine.hpp"

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>

namespace labsync::apps {

class engine_host {
public:
    engine_host(boost::asio::io_context& io, common::log_fn log) : io_(io), log_(std::move(log)) {}

    // Opens an engine for `config`, calls opened(engine) (before the engine runs: what it posts to
    // the io_context comes first) and spawns it on the io_context. The engine's error when it
    // cannot open (nothing runs then). `config` becomes the current configuration.
    engine::engine_error start(const engine::engine_config& config, engine::engine_deps deps,
                               const std::function<void(engine::engine&)>& opened);
    // Cancels the engine and waits up to `grace` for it to return. False when it did not: it is
    // stuck (a hung transport) and is kept, never destroyed; later calls return false at once.
    bool stop(std::chrono::milliseconds grace);

    // fn(engine::engine* (null while none runs), const engine::engine_config& current), under the lock.
    template <class F>
    auto with(F&& fn) {
        std::lock_guard lock(mutex_);
        return fn(engine_.get(), config_);
    }
    // The same, or nothing when the lock is busy (the watchdog tick must not wait).
    template <class F>
    auto try_with(F&& fn)
        -> std::optional<std::invoke_result_t<F, engine::engine*, const engine::engine_config&>> {
        std::unique_lock lock(mutex_, std::try_to_lock);
        if (!lock) return std::nullopt;
        return fn(engine_.get(), config_);
    }

private:
    boost::asio::io_context& io_;
    common::log_fn log_;
    std::mutex mutex_;  // guards engine_ and config_
    std::unique_ptr<engine::engine> engine_;
    engine::engine_config config_;
    std::shared_future<void> done_;          // async_run() returned
    std::unique_ptr<engine::engine> stuck_;  // cancelled but never returned
};

}  // namespace labsync::apps
