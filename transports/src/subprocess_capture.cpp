// Tail capture and line splitting for child process output (see subprocess_capture.hpp).
#include "labsync/transports/subprocess_capture.hpp"

#include <utility>

namespace labsync::transports {

output_capture::output_capture(std::size_t limit, line_fn on_line)
    : limit_(limit == 0 ? 1 : limit), on_line_(std::move(on_line)) {}

void output_capture::keep(std::string_view chunk) {
    if (chunk.size() >= limit_) {
        dropped_ += tail_.size() + chunk.size() - limit_;
        tail_.assign(chunk.substr(chunk.size() - limit_));
        return;
    }
    tail_.append(chunk);
    if (tail_.size() > limit_) {
        // Drop from the front in one go; amortised because we only trim when over the limit.
        const std::size_t excess = tail_.size() - limit_;
        tail_.erase(0, excess);
        dropped_ += excess;
    }
}

void output_capture::feed(std::string_view chunk) {
    total_ += chunk.size();
    keep(chunk);
    if (!on_line_) return;
    std::size_t start = 0;
    for (std::size_t i = 0; i < chunk.size(); ++i) {
        if (chunk[i] != '\n' && chunk[i] != '\r') continue;
        partial_.append(chunk.substr(start, i - start));
        if (!partial_.empty()) on_line_(partial_);
        partial_.clear();
        start = i + 1;
    }
    partial_.append(chunk.substr(start));
    // A "line" longer than the capture limit is not a progress line; deliver it in pieces so
    // memory stays bounded.
    if (partial_.size() > limit_) {
        on_line_(partial_);
        partial_.clear();
    }
}

void output_capture::finish() {
    if (on_line_ && !partial_.empty()) on_line_(partial_);
    partial_.clear();
}

}  // namespace labsync::transports
