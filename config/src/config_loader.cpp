// syncd.toml -> daemon_config; see config_loader.hpp and docs/configuration.md.
#include "labsync/config/config_loader.hpp"

#include "config_table_reader.hpp"
#include "labsync/common/ids.hpp"
#include "labsync/common/read_file.hpp"
#include "labsync/config/config_values.hpp"
#include "labsync/verifier/archive_writer.hpp"
#include "runs_roots.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <limits>
#include <set>

namespace labsync::config {
namespace {

namespace fs = std::filesystem;
using detail::error_sink;
using detail::table_reader;

void read_backoff(table_reader& r, engine::backoff_config& out) {
    r.duration("base", out.base, std::chrono::milliseconds(1));
    r.duration("cap", out.cap, std::chrono::milliseconds(1));
    r.integer("max_attempts", out.max_attempts, 1, 1000);
    if (out.cap < out.base) r.error("cap", "must not be smaller than base");
    r.finish();
}

void read_global(table_reader& r, daemon_config& c) {
    auto& e = c.engine;
    auto& d = c.daemon;
    r.path("state_dir", e.state_dir);
    if (e.state_dir.empty())
        r.sink().add(r.table().source(), r.key_path("state_dir"),
                     "is required (the directory holding jobs.db, e.g. \"/var/lib/labsync\")");
    r.path("outbox_dir", e.outbox_dir);
    r.path("quarantine_dir", e.quarantine_dir);
    if (e.outbox_dir.empty() && !e.state_dir.empty()) e.outbox_dir = e.state_dir / "outbox";
    if (e.quarantine_dir.empty() && !e.state_dir.empty()) e.quarantine_dir = e.state_dir / "quarantine";
    r.integer("quarantine_keep_days", e.quarantine_keep_days, 0, 36500);
    r.integer("max_parallel", e.max_parallel_global, 1, 256);
    r.duration("rescan_interval", e.rescan_interval);
    r.duration("cleanup_interval", e.cleanup_interval, std::chrono::seconds(1));
    r.integer("cpu_threads", e.cpu_threads, 0, 256);
    r.boolean("cleanup_rehash", e.cleanup_rehash);
    r.timetable("bandwidth", e.bandwidth);
    r.path("admin_socket", d.admin_socket);
    if (d.admin_socket.empty())
        r.error("admin_socket", "must not be empty");
    else if (d.admin_socket.string().size() >= 100)
        r.error("admin_socket", "path is too long for a unix socket (keep it under 100 bytes)");
    r.string("admin_socket_group", d.admin_socket_group);
    std::string mode;
    if (r.table().contains("admin_socket_mode")) {
        const toml::node* n = r.node("admin_socket_mode");
        std::string why;
        if (auto s = n->value_exact<std::string>()) {
            if (auto m = parse_mode(*s, why))
                d.admin_socket_mode = *m;
            else
                r.error("admin_socket_mode", why);
        } else {
            r.error("admin_socket_mode", "must be an octal string like \"0660\"");
        }
    }
    r.string("metrics_listen", d.metrics_listen);
    if (!d.metrics_listen.empty()) {
        std::string why;
        if (!parse_host_port(d.metrics_listen, why))
            r.error("metrics_listen", why + " (\"\" turns /metrics off)");
    }
    std::string format;
    if (r.table().contains("log_format")) {
        r.string("log_format", format);
        if (auto f = log_format_from_string(format))
            d.log_format_value = *f;
        else
            r.error("log_format", fmt::format("\"{}\" is not one of auto, text, journal, json", format));
    }
    if (r.table().contains("log_level")) {
        r.string("log_level", d.log_level);
        if (d.log_level != "debug" && d.log_level != "info" && d.log_level != "warning" &&
            d.log_level != "error")
            r.error("log_level",
                    fmt::format("\"{}\" is not one of debug, info, warning, error", d.log_level));
    }
    r.duration("watchdog_stall", d.watchdog_stall, std::chrono::seconds(1));
    r.duration("shutdown_grace", d.shutdown_grace);
    if (d.shutdown_grace > std::chrono::seconds(25))
        r.error("shutdown_grace", "must be at most 25s (systemd kills after 30s)");
    if (const toml::table* b = r.subtable("backoff")) {
        table_reader br(*b, r.key_path("backoff"), r.sink(), r.base());
        read_backoff(br, e.backoff);
    }
    r.finish({{"equipment", "equipment is a top-level table: [equipment.NAME]"}});
}

constexpr auto any_int = std::numeric_limits<int>::max();  // the range is validate()'s to check

void read_http_put(table_reader& r, transports::http_put_config& c) {
    r.string("url", c.url);
    r.path("token_file", c.token_file);
    r.path("ca_file", c.ca_file);
    r.path("client_cert", c.client_cert);
    r.path("client_key", c.client_key);
    r.string("code_commit", c.code_commit);
    if (const toml::node* n = r.table().get("zstd_level"); n && n->is_string()) {
        std::string level;
        r.string("zstd_level", level);
        if (auto parsed = verifier::parse_zstd_level(level))
            c.zstd_level = *parsed;
        else
            r.error("zstd_level", fmt::format("\"{}\" is not a level 0..19 nor \"adaptive\"", level));
    } else {
        r.integer("zstd_level", c.zstd_level, -any_int, any_int);
    }
    r.duration("connect_timeout", c.connect_timeout);
    r.duration("io_timeout", c.io_timeout);
    std::uint64_t chunk = c.chunk_bytes;
    r.size("chunk_bytes", chunk);
    c.chunk_bytes = static_cast<std::size_t>(chunk);
    r.size("part_bytes", c.part_bytes);
    r.size("spool_bytes", c.spool_bytes);
}

void read_rsync_ssh(table_reader& r, transports::rsync_ssh_config& c) {
    r.string("host", c.host);
    r.string("user", c.user);
    r.integer("port", c.port, 0, 65535);
    r.path("key_file", c.identity_file);
    r.path("known_hosts", c.known_hosts);
    r.string("remote_dir", c.dest);
    r.string("rsync_binary", c.rsync_binary);
    r.string("ssh_binary", c.ssh_binary);
    r.string_array("extra_args", c.extra_rsync_args);
    r.path("control_dir", c.control_dir);
    r.duration("control_persist", c.control_persist);
    r.duration("connect_timeout", c.connect_timeout);
    r.duration("command_timeout", c.command_timeout);
    r.duration("transfer_timeout", c.transfer_timeout);
    r.boolean("remote_sync", c.remote_sync);
    r.string("path_env", c.path_env);
}

void read_rclone(table_reader& r, transports::rclone_config& c) {
    r.string("remote", c.remote);
    r.path("config_file", c.config_file);
    r.string("rclone_binary", c.rclone_binary);
    r.string_array("extra_args", c.extra_args);
    r.duration("command_timeout", c.command_timeout);
    r.duration("transfer_timeout", c.transfer_timeout);
    r.duration("connect_timeout", c.connect_timeout);
    r.duration("stats_interval", c.stats_interval);
    r.string("path_env", c.path_env);
}

// The keys a reader asks for, found by running it on an empty table: the one list of each kind's keys.
template <class Config>
std::set<std::string> keys_read_by(void (*read)(table_reader&, Config&)) {
    const toml::table empty;
    std::vector<config_error> ignored;
    error_sink sink{"", ignored};
    table_reader r(empty, "", sink, {});
    Config config;
    read(r, config);
    return r.used();
}

// The syncd.toml keys of each transport kind, to tell the operator where a misplaced key belongs.
const std::map<std::string, std::vector<std::string>>& transport_key_owners() {
    static const std::map<std::string, std::vector<std::string>> owners = [] {
        std::map<std::string, std::vector<std::string>> out;
        for (const auto& [kind, keys] : {std::pair{"http_put", keys_read_by(read_http_put)},
                                         std::pair{"rsync_ssh", keys_read_by(read_rsync_ssh)},
                                         std::pair{"rclone", keys_read_by(read_rclone)}})
            for (const auto& key : keys) out[key].push_back(kind);
        return out;
    }();
    return owners;
}

// Reads the keys of the transport's kind, then applies the driver config's own validate(); each
// problem is placed at its key (a key whose value was already refused is not reported twice).
void read_transport(table_reader& r, engine::transport_config& t) {
    std::string kind;
    r.required_string("kind", kind, "one of http_put, rsync_ssh, rclone");
    const std::size_t errors_before = r.sink().errors.size();
    const auto read_and_validate = [&](auto& config, auto read) {
        read(r, config);
        std::set<std::string> refused;
        for (std::size_t i = errors_before; i < r.sink().errors.size(); ++i)
            refused.insert(r.sink().errors[i].key);
        for (const auto& problem : config.validate())
            if (!refused.count(r.key_path(problem.key))) r.error(problem.key, problem.message);
    };
    if (kind == "http_put") {
        read_and_validate(t.emplace<transports::http_put_config>(), read_http_put);
    } else if (kind == "rsync_ssh") {
        read_and_validate(t.emplace<transports::rsync_ssh_config>(), read_rsync_ssh);
    } else if (kind == "rclone") {
        read_and_validate(t.emplace<transports::rclone_config>(), read_rclone);
    } else {
        if (!kind.empty())
            r.error("kind",
                    fmt::format("\"{}\" is not a transport (use http_put, rsync_ssh or rclone)", kind));
        for (auto&& [k, v] : r.table()) r.ignore(k.str());
    }
    std::map<std::string, std::string> hints;
    for (const auto& [key, owners] : transport_key_owners())
        if (std::find(owners.begin(), owners.end(), kind) == owners.end())
            hints[key] =
                fmt::format("it belongs to transport {}, this one is {}", fmt::join(owners, " or "), kind);
    r.finish(hints);
}

void read_gate(table_reader& r, engine::gate_config& g) {
    r.size("max_bytes", g.max_bytes);
    r.integer("max_files", g.max_files, 0, std::numeric_limits<std::int64_t>::max());
    r.boolean("meta_json_required", g.meta_json_required);
    r.string_array("external_command", g.external_command);
    if (r.table().contains("external_command") && g.external_command.empty())
        r.error("external_command", "must name a program (an empty array means: leave the key out)");
    r.duration("external_timeout", g.external_timeout, std::chrono::seconds(1));
    r.finish();
}

void read_equipment(table_reader& r, engine::equipment_config& eq) {
    r.path("runs_root", eq.runs_root);
    if (eq.runs_root.empty() && !r.table().contains("runs_root"))
        r.sink().add(r.table().source(), r.key_path("runs_root"),
                     "is required (the directory the instrument writes its runs into)");
    r.string("marker", eq.marker_name);
    if (r.table().contains("marker") &&
        (eq.marker_name.empty() || eq.marker_name.find('/') != std::string::npos || eq.marker_name == "." ||
         eq.marker_name == ".."))
        r.error("marker", fmt::format("\"{}\" must be a plain file name", eq.marker_name));
    r.duration("settle", eq.settle);
    r.integer("max_parallel", eq.max_parallel, 1, 64);
    r.duration("retention", eq.retention);
    r.boolean("cleanup", eq.cleanup_enabled);
    if (r.table().contains("cleanup_rehash")) r.boolean("cleanup_rehash", eq.cleanup_rehash.emplace());
    r.size("min_free", eq.watermark.min_free_bytes);
    if (const toml::node* n = r.node("min_free_percent")) {
        std::optional<double> v = n->value<double>();
        if (!v || (!n->is_integer() && !n->is_floating_point()))
            r.error("min_free_percent", "must be a number between 0 and 100");
        else if (*v < 0 || *v > 100)
            r.error("min_free_percent", fmt::format("{} is out of range 0..100", *v));
        else
            eq.watermark.min_free_percent = *v;
    }
    r.timetable("bandwidth", eq.bandwidth);
    r.boolean("watch", eq.watch);
    if (const toml::table* g = r.subtable("gate")) {
        table_reader gr(*g, r.key_path("gate"), r.sink(), r.base());
        read_gate(gr, eq.gate);
    }
    if (const toml::table* t = r.subtable("transport")) {
        table_reader tr(*t, r.key_path("transport"), r.sink(), r.base());
        read_transport(tr, eq.transport);
    } else if (!r.table().contains("transport")) {
        r.sink().add(
            r.table().source(), r.key_path("transport"),
            fmt::format("is required: add a [{}] table with kind = \"http_put\" (or rsync_ssh, rclone)",
                        r.key_path("transport")));
    }
    std::map<std::string, std::string> hints;
    for (const auto& [key, owners] : transport_key_owners())
        hints[key] = fmt::format("transport settings go in [{}]", r.key_path("transport"));
    r.finish(hints);
}

// Two equipment on one directory would store every run twice under two names; a runs root inside
// another would make one instrument's runs appear as the other's. Compared as the directories
// really are (runs_roots.hpp), not as spelled: a symlink or a bind mount does not hide either.
void check_runs_roots(const std::vector<engine::equipment_config>& equipment,
                      const std::vector<toml::source_region>& sources, error_sink& sink) {
    std::vector<dir_chain> chains;
    for (const auto& eq : equipment) chains.push_back(resolve_dir_chain(eq.runs_root));
    for (std::size_t b = 0; b < equipment.size(); ++b) {
        for (std::size_t a = 0; a < equipment.size(); ++a) {
            if (a == b || equipment[a].runs_root.empty() || equipment[b].runs_root.empty()) continue;
            const auto overlap = dir_overlap_of(chains[b], chains[a]);
            const auto& inner = equipment[b].runs_root;
            const auto& outer = equipment[a].runs_root;
            // Where the spelling hides the relation, say what it resolved to.
            const std::string resolved =
                chains[b].front().path == inner && chains[a].front().path == outer
                    ? ""
                    : fmt::format(" ({} is {})", inner.string(), chains[b].front().path.string());
            std::string message;
            if (overlap == dir_overlap::same && a < b)
                message = fmt::format(
                    "{} is already the runs_root of equipment {}{}", inner.string(), equipment[a].name,
                    inner == outer ? "" : fmt::format(" ({}, the same directory)", outer.string()));
            else if (overlap == dir_overlap::inside)
                message = fmt::format("{} lies inside the runs_root of equipment {} ({}){}", inner.string(),
                                      equipment[a].name, outer.string(), resolved);
            if (!message.empty())
                sink.add(sources[b], "equipment." + equipment[b].name + ".runs_root", message);
        }
    }
}

void read_root(const toml::table& root, error_sink& sink, const fs::path& base, daemon_config& c) {
    table_reader r(root, "", sink, base);
    if (const toml::table* g = r.subtable("global")) {
        table_reader gr(*g, "global", sink, base);
        read_global(gr, c);
    } else if (!root.contains("global")) {
        sink.add(root.source(), "global", "is required: add a [global] table with at least state_dir");
    }
    std::vector<toml::source_region> root_sources;  // where each equipment's runs_root is written
    if (const toml::table* eqs = r.subtable("equipment")) {
        // toml++ keeps keys sorted; the file's order is what an operator expects back (status).
        std::vector<std::pair<const toml::key*, const toml::node*>> ordered;
        for (auto&& [k, v] : *eqs) ordered.emplace_back(&k, &v);
        std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
            return a.first->source().begin < b.first->source().begin;
        });
        for (auto [kp, vp] : ordered) {
            const toml::key& k = *kp;
            const toml::node& v = *vp;
            std::string name(k.str());
            std::string key = "equipment." + name;
            if (auto why = common::id_refusal_reason(common::id_kind::equipment, name); !why.empty()) {
                sink.add(k.source(), key, why);
                continue;
            }
            const toml::table* t = v.as_table();
            if (!t) {
                sink.add(v.source(), key, "must be a table ([equipment." + name + "])");
                continue;
            }
            engine::equipment_config eq;
            eq.name = name;
            table_reader er(*t, key, sink, base);
            read_equipment(er, eq);
            const toml::node* root_node = t->get("runs_root");
            root_sources.push_back(root_node ? root_node->source() : t->source());
            c.engine.equipment.push_back(std::move(eq));
        }
        if (eqs->empty()) sink.add(eqs->source(), "equipment", "declares no equipment");
    } else if (!root.contains("equipment")) {
        sink.add(root.source(), "equipment", "is required: add at least one [equipment.NAME] table");
    }
    check_runs_roots(c.engine.equipment, root_sources, sink);
    r.finish();
}

}  // namespace

std::string_view to_string(log_format format) noexcept {
    switch (format) {
        case log_format::auto_detect:
            return "auto";
        case log_format::text:
            return "text";
        case log_format::journal:
            return "journal";
        case log_format::json:
            return "json";
    }
    return "auto";
}

std::optional<log_format> log_format_from_string(std::string_view text) noexcept {
    if (text == "auto") return log_format::auto_detect;
    if (text == "text") return log_format::text;
    if (text == "journal") return log_format::journal;
    if (text == "json") return log_format::json;
    return std::nullopt;
}

std::string config_error::to_string() const {
    std::string where = line > 0 ? fmt::format("{}:{}:{}", file, line, column) : file;
    return key.empty() ? fmt::format("{}: {}", where, message)
                       : fmt::format("{}: {}: {}", where, key, message);
}

load_result load_config_text(std::string_view text, const std::string& source_name,
                             const fs::path& base_dir) {
    load_result result;
    result.config.source = source_name;
    error_sink sink{source_name, result.errors};
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        sink.add(e.source(), "", fmt::format("TOML syntax: {}", e.description()));
        return result;
    }
    read_root(root, sink, base_dir, result.config);
    return result;
}

load_result load_config(const fs::path& path) {
    std::string why;
    auto text = common::read_whole_file(path, why);
    if (!text) {
        load_result result;
        result.config.source = path;
        result.errors.push_back({path.string(), 0, 0, "", "cannot read: " + why});
        return result;
    }
    std::error_code ec;
    fs::path absolute = fs::absolute(path, ec);
    return load_config_text(*text, path.string(), absolute.parent_path());
}

std::string format_errors(const std::vector<config_error>& errors) {
    std::string out;
    for (const auto& e : errors) out += e.to_string() + "\n";
    return out;
}

}  // namespace labsync::config
