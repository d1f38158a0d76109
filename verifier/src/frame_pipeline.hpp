#pragma once
// Several zstd frames decompressed at once, walked in order. The feeder (the caller of
// archive_checker::feed) only splits the compressed bytes at frame boundaries
// (zstd_frame_scanner) and queues copies of them, one job per frame; `decoders` threads each take
// the next job in stream order and decompress it with a decoder context of its own; one walker
// thread hands the decoded bytes to the consumer (tar walk + member hashes) job after job, so
// the consumer sees exactly the bytes of a single streaming decoder. A stream the scanner cannot
// follow (an old single-frame archive is one job; garbage) is one job from there on.
//
// Memory, per pipeline: `own_slots` decoded buffers of slot_size and own_input bytes of queued
// input, used by the head job (the one being walked) and the feeder; a job decoding ahead of the
// walk takes its decoder context and every buffer from the shared check_budget, without waiting:
// if the budget is used up it waits to become the head job. So a pipeline always progresses on
// its own memory, and the look-ahead of all pipelines together stays within the budget.
// Private to the verifier module; driven by archive_checker.

#include "labsync/verifier/check_budget.hpp"
#include "zstd_frame_scanner.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace labsync::verifier::detail {

class frame_pipeline {
public:
    // consume(data, size) runs on the walker; false means it failed: nothing more is walked.
    using consumer = std::function<bool(const std::byte*, std::size_t)>;

    struct limits {
        std::size_t decoders = 2;
        std::size_t own_slots = 4;
        std::size_t slot_size = 512u << 10;
        std::size_t call_size = 256u << 10;  // decoded per zstd call, at most (<= slot_size)
        std::size_t own_input = 1u << 20;
        std::size_t lookahead = 48u << 20;  // at most this much of the budget per pipeline
        int window_log_max = 23;
    };
    // How the walk ended (valid after finish(), or once failed()).
    enum class outcome { running, complete, consumer_failed, zstd_error, truncated };

    frame_pipeline(limits lim, std::shared_ptr<check_budget> budget, consumer consume);
    ~frame_pipeline();
    frame_pipeline(const frame_pipeline&) = delete;
    frame_pipeline& operator=(const frame_pipeline&) = delete;

    // Feeder: queues the bytes, waiting while the own input allowance is full and the budget
    // has no room. False once the walk failed (the bytes are dropped).
    bool feed(std::span<const std::byte> data);
    // Feeder: no more input; waits until every job is walked (or the walk failed).
    outcome finish();
    // Feeder: waits until everything fed so far is decoded and walked (a frame not yet complete
    // may keep some bytes inside its decoder). Rethrows what the consumer threw.
    void drain();
    bool failed();
    outcome current();
    // The decoder's message for outcome::zstd_error.
    const std::string& zstd_error() const noexcept { return zstd_error_; }
    // For tests: look-ahead jobs started on budget so far.
    std::size_t lookahead_jobs() const noexcept { return lookahead_jobs_; }

private:
    // Transient buffers (input copies, decoded buffers ahead, decoder contexts) come and go with
    // every frame: blocks of 128 KiB and more are mapped and unmapped, not left to malloc, whose
    // growing mmap threshold would keep them in its arenas (measured: +1.3 MiB RSS per upload).
    struct unmap {
        void operator()(std::byte* p) const noexcept;
    };
    using block = std::unique_ptr<std::byte[], unmap>;
    static std::byte* allocate(std::size_t n);  // nullptr when out of memory

    struct input_chunk {
        block data;
        std::size_t size = 0;
        std::size_t pos = 0;
        bool budgeted = false;
    };
    struct piece {
        std::byte* data = nullptr;
        std::size_t size = 0;
        bool budgeted = false;  // a buffer of its own, paid from the budget; else an own slot
    };
    struct job {
        std::deque<input_chunk> input;
        bool input_closed = false;
        bool window_known = false;
        std::uint64_t window = 0;
        bool assigned = false;
        std::size_t context_budget = 0;  // taken for a look-ahead decoder context
        std::deque<piece> output;
        bool output_done = false;  // the decoder is finished with this job
        bool frame_done = false;   // its last zstd call ended a frame
        bool busy = false;         // inside a zstd call
        bool pending = false;      // its decoder may hold decoded bytes not yet output
        std::string error;         // a zstd error, after the output
    };

    void decoder_loop();
    void walker_loop();
    job* startable();  // the next job a decoder may take, or nullptr
    void decode(job& j, std::unique_lock<std::mutex>& lock);
    bool take_slot(job& j, std::unique_lock<std::mutex>& lock, piece& out);
    void give_back(piece p);
    void give_back(input_chunk& c);
    void fail(outcome why);
    bool is_head(const job& j) const { return !jobs_.empty() && jobs_.front().get() == &j; }
    bool drained() const;

    const limits lim_;
    std::shared_ptr<check_budget> budget_;
    consumer consume_;
    zstd_frame_scanner scanner_;  // feeder only

    std::mutex mutex_;
    std::condition_variable cv_;             // every change of the state below
    std::deque<std::unique_ptr<job>> jobs_;  // front: the head job, being walked
    job* feeding_ = nullptr;                 // the job the feeder appends to
    std::vector<std::unique_ptr<std::byte[]>> own_;
    std::vector<std::byte*> own_free_;
    std::size_t own_input_used_ = 0;
    std::size_t lookahead_used_ = 0;              // budget held by this pipeline
    std::atomic<std::size_t> lookahead_jobs_{0};  // read by tests without the lock
    bool walking_ = false;
    bool finishing_ = false;
    bool stop_ = false;
    outcome outcome_ = outcome::running;
    std::uint64_t jobs_walked_ = 0;
    bool last_frame_done_ = false;
    std::string zstd_error_;
    std::exception_ptr thrown_;
    std::vector<std::thread> threads_;  // last: started once everything above exists
};

}  // namespace labsync::verifier::detail
