// The real drivers behind engine_config's equipment transport: each gets its own config as
// written, plus what only the engine knows (the outbox directory, the log).
#include "labsync/engine/engine.hpp"

#include "labsync/transports/http_put.hpp"
#include "labsync/transports/rclone.hpp"
#include "labsync/transports/rsync_ssh.hpp"

#include <boost/asio/thread_pool.hpp>

#include <fmt/format.h>

namespace labsync::engine {

transport_factory default_transport_factory() {
    return [](const equipment_config& e, const transport_context& ctx,
              std::string& why) -> std::unique_ptr<transports::transport> {
        auto cpu = ctx.cpu_pool.get_executor();
        if (const auto* p = std::get_if<transports::http_put_config>(&e.transport)) {
            auto c = *p;
            c.outbox = ctx.outbox_dir;
            return transports::http_put::create(std::move(c), cpu, &why);
        }
        if (const auto* p = std::get_if<transports::rsync_ssh_config>(&e.transport))
            return transports::rsync_ssh::create(*p, cpu, &why);
        auto c = std::get<transports::rclone_config>(e.transport);
        if (ctx.log) {
            c.log = [log = ctx.log, name = e.name](std::string_view line) {
                log(log_level::info, fmt::format("{}: rclone: {}", name, line));
            };
        }
        return transports::rclone::create(std::move(c), cpu, &why);
    };
}

}  // namespace labsync::engine
