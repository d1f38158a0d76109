#pragma once
// Bounded capture of one output stream of a child process: keeps the last `limit` bytes (the tail
// is where rsync, ssh and rclone put the reason they failed) and cuts the stream into lines for a
// progress parser. Lines end at '\n' or '\r' because rsync's --info=progress2 rewrites one
// terminal line with '\r'. Pure: no I/O, unit-tested.

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace labsync::transports {

class output_capture {
public:
    using line_fn = std::function<void(std::string_view line)>;

    explicit output_capture(std::size_t limit = 64 * 1024, line_fn on_line = {});

    // Appends a chunk read from the pipe.
    void feed(std::string_view chunk);
    // End of stream: delivers a last unterminated line, if any.
    void finish();

    // The kept tail; starts mid-stream when truncated() is true.
    const std::string& tail() const noexcept { return tail_; }
    bool truncated() const noexcept { return dropped_ > 0; }
    std::size_t total_bytes() const noexcept { return total_; }

private:
    void keep(std::string_view chunk);

    std::size_t limit_;
    line_fn on_line_;
    std::string tail_;
    std::string partial_;  // the unterminated line so far (bounded by limit_)
    std::size_t dropped_ = 0;
    std::size_t total_ = 0;
};

}  // namespace labsync::transports
