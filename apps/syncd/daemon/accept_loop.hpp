// The blocking accept loop the daemon's two small side servers (admin socket, metrics HTTP) run on
// their own thread: one connection at a time, until a byte arrives on the wake pipe. Header-only
// and free of Asio on purpose: these servers must answer while the engine's io_context is busy.
#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace labsync::apps {

// Serves connections on `listen_fd` with `handle(client_fd)` (the loop closes the client) until
// `wake_fd` becomes readable or poll fails.
template <class Handler>
void accept_until_woken(int listen_fd, int wake_fd, Handler&& handle) {
    while (true) {
        pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
        int r = ::poll(fds, 2, -1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (fds[1].revents & POLLIN)) return;
        if (fds[0].revents & POLLIN) {
            int client = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0) continue;
            handle(client);
            ::close(client);
        }
    }
}

// Ends accept_until_woken from another thread (write end of the wake pipe; -1 is ignored).
inline void wake_accept_loop(int wake_write_fd) {
    if (wake_write_fd < 0) return;
    char c = 'x';
    [[maybe_unused]] auto n = ::write(wake_write_fd, &c, 1);
}

}  // namespace labsync::apps
