#pragma once
// Waits until a run's files are older than the coarse clock's current tick, so that its stat
// fingerprint is `exact` (verifier/fingerprint.hpp) and a later change is sure to move
// a ctime. Awaits the clock tick (a few ms), no fixed sleep. Header-only: needs labsync::verifier.

#include "labsync/verifier/fingerprint.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace labsync::test {

inline void wait_until_fingerprint_exact(const std::filesystem::path& run) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!verifier::fingerprint_run(run).exact) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("the fingerprint of " + run.string() +
                                     " is not exact within 5 s (clock, or the walk fails)");
        std::this_thread::yield();
    }
}

}  // namespace labsync::test
