#include "frame_pipeline.hpp"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_createDCtx_advanced, ZSTD_customMem
#include <zstd.h>

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace labsync::verifier::detail {
namespace {

// What a decoder context holds besides its window (input block, tables), for the budget.
constexpr std::size_t context_overhead = 256u << 10;

// A block starts with its size, on a 64-byte header that keeps the data aligned for zstd.
constexpr std::size_t block_header = 64;
constexpr std::size_t map_threshold = 128u << 10;

void* allocate_block(void*, std::size_t n) {
    std::size_t total = n + block_header;
    void* p = nullptr;
    if (total >= map_threshold) {
        p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return nullptr;
    } else {
        p = std::malloc(total);
        if (p == nullptr) return nullptr;
    }
    *static_cast<std::size_t*>(p) = total;
    return static_cast<char*>(p) + block_header;
}

void free_block(void*, void* data) {
    if (data == nullptr) return;
    void* p = static_cast<char*>(data) - block_header;
    std::size_t total = *static_cast<std::size_t*>(p);
    if (total >= map_threshold)
        ::munmap(p, total);
    else
        std::free(p);
}

constexpr ZSTD_customMem block_memory{allocate_block, free_block, nullptr};

}  // namespace

void frame_pipeline::unmap::operator()(std::byte* p) const noexcept {
    free_block(nullptr, p);
}

std::byte* frame_pipeline::allocate(std::size_t n) {
    return static_cast<std::byte*>(allocate_block(nullptr, n));
}

frame_pipeline::frame_pipeline(limits lim, std::shared_ptr<check_budget> budget, consumer consume)
    : lim_(lim), budget_(std::move(budget)), consume_(std::move(consume)) {
    for (std::size_t i = 0; i < lim_.own_slots; ++i) {
        own_.emplace_back(new std::byte[lim_.slot_size]);
        own_free_.push_back(own_.back().get());
    }
    threads_.emplace_back([this] { walker_loop(); });
    for (std::size_t i = 0; i < std::max<std::size_t>(lim_.decoders, 1); ++i)
        threads_.emplace_back([this] { decoder_loop(); });
}

frame_pipeline::~frame_pipeline() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    for (auto& j : jobs_) {
        for (auto& c : j->input) give_back(c);
        for (auto& p : j->output) give_back(p);
        if (j->context_budget != 0) budget_->give_back(j->context_budget);
    }
}

bool frame_pipeline::feed(std::span<const std::byte> data) {
    while (!data.empty()) {
        bool frame_end = false;
        std::size_t n = scanner_.scan(data, frame_end);
        input_chunk c;
        c.data.reset(allocate(n));
        if (c.data == nullptr) throw std::bad_alloc();
        c.size = n;
        std::memcpy(c.data.get(), data.data(), n);
        data = data.subspan(n);

        std::unique_lock lock(mutex_);
        if (feeding_ == nullptr) {
            jobs_.push_back(std::make_unique<job>());
            feeding_ = jobs_.back().get();
        }
        cv_.wait(lock, [&] {
            if (outcome_ != outcome::running) return true;
            if (own_input_used_ == 0 || own_input_used_ + n <= lim_.own_input) return true;
            // Input on the budget only for a frame decoded ahead, or the first bytes of the next
            // one to start (its header tells the decoder context it needs): never input that
            // merely waits, holding budget that a decoder context could use.
            bool starting = feeding_->input.empty() && std::all_of(jobs_.begin(), jobs_.end() - 1,
                                                                   [](const auto& j) { return j->assigned; });
            if (!feeding_->assigned && !starting) return false;
            if (budget_ && lookahead_used_ + n <= lim_.lookahead && budget_->try_take(n)) {
                lookahead_used_ += n;
                c.budgeted = true;
                return true;
            }
            return false;
        });
        if (outcome_ != outcome::running) {
            if (c.budgeted) give_back(c);
            return false;
        }
        if (!c.budgeted) own_input_used_ += n;
        feeding_->input.push_back(std::move(c));
        if (scanner_.header_read()) {
            feeding_->window_known = true;
            feeding_->window = scanner_.window_size();
        }
        if (frame_end) {
            feeding_->input_closed = true;
            feeding_ = nullptr;
        }
        cv_.notify_all();
    }
    return !failed();
}

frame_pipeline::outcome frame_pipeline::finish() {
    std::unique_lock lock(mutex_);
    if (feeding_ != nullptr) {
        feeding_->input_closed = true;
        feeding_ = nullptr;
        cv_.notify_all();
    }
    cv_.wait(lock, [&] { return outcome_ != outcome::running || (jobs_.empty() && !walking_); });
    if (thrown_) std::rethrow_exception(std::exchange(thrown_, nullptr));
    if (outcome_ == outcome::running)
        outcome_ = jobs_walked_ > 0 && last_frame_done_ ? outcome::complete : outcome::truncated;
    return outcome_;
}

bool frame_pipeline::drained() const {
    if (outcome_ != outcome::running) return true;
    if (walking_) return false;
    return std::all_of(jobs_.begin(), jobs_.end(), [](const auto& j) {
        return j->input.empty() && j->output.empty() && !j->busy && !j->pending;
    });
}

void frame_pipeline::drain() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return drained(); });
    if (thrown_) std::rethrow_exception(std::exchange(thrown_, nullptr));
}

bool frame_pipeline::failed() {
    std::lock_guard lock(mutex_);
    return outcome_ == outcome::consumer_failed || outcome_ == outcome::zstd_error;
}

frame_pipeline::outcome frame_pipeline::current() {
    std::lock_guard lock(mutex_);
    return outcome_;
}

void frame_pipeline::fail(outcome why) {
    if (outcome_ == outcome::running) outcome_ = why;
    cv_.notify_all();
}

void frame_pipeline::give_back(piece p) {
    if (!p.budgeted) {
        own_free_.push_back(p.data);
        return;
    }
    free_block(nullptr, p.data);
    budget_->give_back(lim_.slot_size);
    lookahead_used_ -= lim_.slot_size;
}

void frame_pipeline::give_back(input_chunk& c) {
    if (c.budgeted) {
        budget_->give_back(c.size);
        lookahead_used_ -= c.size;
    } else {
        own_input_used_ -= c.size;
    }
    c.data.reset();
    c.size = 0;
}

frame_pipeline::job* frame_pipeline::startable() {
    for (auto& p : jobs_) {
        job& j = *p;
        if (j.assigned) continue;
        // Jobs start in stream order: this one or none.
        if (j.input.empty() && !j.input_closed) return nullptr;
        if (is_head(j)) return &j;
        if (!budget_ || (!j.window_known && !j.input_closed)) return nullptr;
        std::uint64_t max_window = std::uint64_t{1} << lim_.window_log_max;
        std::size_t need =
            static_cast<std::size_t>(j.window_known ? std::min(j.window, max_window) : max_window) +
            context_overhead;
        if (lookahead_used_ + need > lim_.lookahead || !budget_->try_take(need)) return nullptr;
        lookahead_used_ += need;
        j.context_budget = need;
        ++lookahead_jobs_;
        return &j;
    }
    return nullptr;
}

void frame_pipeline::decoder_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        job* j = nullptr;
        cv_.wait(lock, [&] {
            if (stop_ || outcome_ != outcome::running) return true;
            j = startable();
            return j != nullptr;
        });
        if (j == nullptr) return;
        j->assigned = true;
        decode(*j, lock);
    }
}

bool frame_pipeline::take_slot(job& j, std::unique_lock<std::mutex>& lock, piece& out) {
    for (;;) {
        if (stop_ || outcome_ != outcome::running) return false;
        if (is_head(j) && !own_free_.empty()) {
            out = {own_free_.back(), 0, false};
            own_free_.pop_back();
            return true;
        }
        // The head job's own slots keep it going with the walk; the budget is for decoding ahead.
        if (!is_head(j) && budget_ && lookahead_used_ + lim_.slot_size <= lim_.lookahead &&
            budget_->try_take(lim_.slot_size)) {
            std::byte* p = allocate(lim_.slot_size);
            if (p != nullptr) {
                lookahead_used_ += lim_.slot_size;
                out = {p, 0, true};
                return true;
            }
            budget_->give_back(lim_.slot_size);
        }
        cv_.wait(lock);
    }
}

// Decompresses one job on this thread's own decoder context. The zstd calls are those of a single
// streaming decoder fed the same chunks (a chunk the scanner split at a frame's end is where that
// decoder's calls stop too, since zstd returns at each frame end): each call decodes at most
// call_size bytes, a full output is followed by a call on the same input, and a call that fails
// has its output dropped. So an error names the same member as with one thread.
void frame_pipeline::decode(job& j, std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    ZSTD_DCtx* dctx = ZSTD_createDCtx_advanced(block_memory);
    if (dctx != nullptr) ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, lim_.window_log_max);
    lock.lock();
    if (dctx == nullptr) j.error = "cannot allocate a zstd decoder";
    bool frame_done = false;
    piece slot;  // being filled, call after call
    auto hand_over = [&] {
        if (slot.data == nullptr) return;
        if (slot.size > 0)
            j.output.push_back(slot);
        else
            give_back(slot);
        slot = {};
        cv_.notify_all();
    };
    while (dctx != nullptr) {
        if (j.input.empty() && !j.input_closed) hand_over();  // let the walk go on while waiting
        cv_.wait(lock,
                 [&] { return stop_ || outcome_ != outcome::running || !j.input.empty() || j.input_closed; });
        if (stop_ || outcome_ != outcome::running) break;
        if (j.input.empty()) break;        // closed and all decoded
        input_chunk& c = j.input.front();  // stable: the feeder only appends
        if (c.pos == c.size && !j.pending) {
            give_back(c);
            j.input.pop_front();
            continue;
        }
        if (slot.data == nullptr && !take_slot(j, lock, slot)) break;
        ZSTD_inBuffer in{c.data.get(), c.size, c.pos};
        ZSTD_outBuffer out{slot.data + slot.size, lim_.call_size, 0};
        j.busy = true;
        lock.unlock();
        std::size_t r = ZSTD_decompressStream(dctx, &out, &in);
        lock.lock();
        j.busy = false;
        c.pos = in.pos;
        if (ZSTD_isError(r)) {
            j.pending = false;
            j.error = std::string("zstd: ") + ZSTD_getErrorName(r);
            break;
        }
        frame_done = r == 0;  // a frame ended (a job the scanner could not split may hold more)
        j.pending = !frame_done && out.pos == out.size;  // it may hold more decoded bytes
        slot.size += out.pos;
        if (lim_.slot_size - slot.size < lim_.call_size) hand_over();
    }
    hand_over();
    j.frame_done = frame_done;
    j.output_done = true;
    if (j.context_budget != 0) {
        budget_->give_back(j.context_budget);
        lookahead_used_ -= j.context_budget;
        j.context_budget = 0;
    }
    cv_.notify_all();
    lock.unlock();
    ZSTD_freeDCtx(dctx);
    lock.lock();
}

void frame_pipeline::walker_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [&] {
            return stop_ ||
                   (!jobs_.empty() && (!jobs_.front()->output.empty() || jobs_.front()->output_done));
        });
        if (stop_) return;
        job& j = *jobs_.front();
        if (!j.output.empty()) {
            piece p = j.output.front();
            j.output.pop_front();
            if (outcome_ == outcome::running) {
                walking_ = true;
                lock.unlock();
                bool ok = false;
                std::exception_ptr thrown;
                try {
                    ok = consume_(p.data, p.size);
                } catch (...) {
                    thrown = std::current_exception();
                }
                lock.lock();
                walking_ = false;
                if (thrown) thrown_ = thrown;
                if (!ok) fail(outcome::consumer_failed);
            }
            give_back(p);
            cv_.notify_all();
            continue;
        }
        if (!j.error.empty() && outcome_ == outcome::running) {
            zstd_error_ = j.error;
            fail(outcome::zstd_error);
        }
        ++jobs_walked_;
        last_frame_done_ = j.frame_done;
        for (auto& c : j.input) give_back(c);
        if (&j == feeding_) feeding_ = nullptr;  // after a failure its decoder stopped before its end
        jobs_.pop_front();
        cv_.notify_all();
    }
}

}  // namespace labsync::verifier::detail
