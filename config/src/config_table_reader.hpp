#pragma once
// The typed reader the config loader walks syncd.toml with: hands out durations, sizes, paths,
// timetables, ... from one toml++ table, records an error (file, line, key, why) for every bad
// value, and remembers which keys were read so that finish() can call every other key unknown.
// Private to config_loader.cpp (and its tests through the loader).

#include "labsync/config/daemon_config.hpp"

#include "labsync/config/config_values.hpp"
#include "labsync/engine/bandwidth_timetable.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace labsync::config::detail {

namespace fs = std::filesystem;

// Collects errors for one file and knows how to place them.
struct error_sink {
    std::string file;
    std::vector<config_error>& errors;

    void add(const toml::source_region& where, std::string key, std::string message) {
        errors.push_back({file, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column),
                          std::move(key), std::move(message)});
    }
};

// A table being read: hands out typed values and remembers which keys were used, so whatever is
// left at finish() is an unknown key.
class table_reader {
public:
    table_reader(const toml::table& table, std::string prefix, error_sink& sink, fs::path base)
        : table_(table), prefix_(std::move(prefix)), sink_(sink), base_(std::move(base)) {}

    std::string key_path(std::string_view key) const {
        return prefix_.empty() ? std::string(key) : fmt::format("{}.{}", prefix_, key);
    }
    const toml::node* node(std::string_view key) {
        used_.insert(std::string(key));
        return table_.get(key);
    }
    void error(std::string_view key, std::string message) {
        const toml::node* n = table_.get(key);
        sink_.add(n ? n->source() : table_.source(), key_path(key), std::move(message));
    }

    void string(std::string_view key, std::string& out) {
        if (const toml::node* n = node(key)) {
            if (auto v = n->value_exact<std::string>())
                out = *v;
            else
                error(key, fmt::format("must be a string, not {}", type_name(*n)));
        }
    }
    void required_string(std::string_view key, std::string& out, std::string_view hint) {
        if (!table_.contains(key)) {
            sink_.add(table_.source(), key_path(key), fmt::format("is required ({})", hint));
            used_.insert(std::string(key));
            return;
        }
        string(key, out);
        if (out.empty()) error(key, fmt::format("must not be empty ({})", hint));
    }
    void path(std::string_view key, fs::path& out) {
        std::string text;
        bool present = table_.contains(key);
        string(key, text);
        if (!present) return;
        out = resolve(text);
    }
    fs::path resolve(const std::string& text) const {
        if (text.empty()) return {};
        fs::path p(text);
        return p.is_absolute() ? p.lexically_normal() : (base_ / p).lexically_normal();
    }
    template <class Int>
    void integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
        if (const toml::node* n = node(key)) {
            auto v = n->value_exact<std::int64_t>();
            if (!v) return error(key, fmt::format("must be an integer, not {}", type_name(*n)));
            if (*v < min || *v > max)
                return error(key, fmt::format("{} is out of range {}..{}", *v, min, max));
            out = static_cast<Int>(*v);
        }
    }
    void boolean(std::string_view key, bool& out) {
        if (const toml::node* n = node(key)) {
            if (auto v = n->value_exact<bool>())
                out = *v;
            else
                error(key, fmt::format("must be true or false, not {}", type_name(*n)));
        }
    }
    template <class Duration>
    void duration(std::string_view key, Duration& out, std::chrono::milliseconds min = {}) {
        const toml::node* n = node(key);
        if (!n) return;
        std::optional<std::chrono::milliseconds> value;
        std::string why;
        if (auto i = n->value_exact<std::int64_t>()) {
            if (*i < 0) return error(key, fmt::format("duration {} is negative", *i));
            value = std::chrono::seconds(*i);
        } else if (auto s = n->value_exact<std::string>()) {
            value = parse_duration(*s, why);
            if (!value) return error(key, why);
        } else {
            return error(key,
                         fmt::format("must be a duration like \"30s\" or \"5m\", not {}", type_name(*n)));
        }
        if (*value < min) return error(key, fmt::format("must be at least {}", format_duration(min)));
        if constexpr (std::is_same_v<Duration, std::chrono::seconds>) {
            if (value->count() % 1000 != 0)
                return error(key, "must be whole seconds (e.g. \"30s\", not \"1500ms\")");
        }
        out = std::chrono::duration_cast<Duration>(*value);
    }
    void size(std::string_view key, std::uint64_t& out) {
        const toml::node* n = node(key);
        if (!n) return;
        if (auto i = n->value_exact<std::int64_t>()) {
            if (*i < 0) return error(key, fmt::format("size {} is negative", *i));
            out = static_cast<std::uint64_t>(*i);
        } else if (auto s = n->value_exact<std::string>()) {
            std::string why;
            auto v = parse_size(*s, why);
            if (!v) return error(key, why);
            out = *v;
        } else {
            error(key,
                  fmt::format("must be a size like \"500M\" or a number of bytes, not {}", type_name(*n)));
        }
    }
    void timetable(std::string_view key, std::string& out) {
        std::string text;
        bool present = table_.contains(key);
        string(key, text);
        if (!present) return;
        engine::timetable_parse_error perr;
        if (!engine::bandwidth_timetable::parse(text, &perr))
            return error(
                key, fmt::format("bandwidth timetable \"{}\": {} (write e.g. \"08:00,20M 19:00,off\")", text,
                                 perr.message));
        out = text;
    }
    void string_array(std::string_view key, std::vector<std::string>& out) {
        const toml::node* n = node(key);
        if (!n) return;
        const toml::array* a = n->as_array();
        if (!a) return error(key, fmt::format("must be an array of strings, not {}", type_name(*n)));
        out.clear();
        for (const toml::node& item : *a) {
            auto s = item.value_exact<std::string>();
            if (!s) {
                sink_.add(item.source(), key_path(key),
                          fmt::format("items must be strings, not {}", type_name(item)));
                continue;
            }
            out.push_back(*s);
        }
    }
    const toml::table* subtable(std::string_view key) {
        const toml::node* n = node(key);
        if (!n) return nullptr;
        if (const toml::table* t = n->as_table()) return t;
        error(key, fmt::format("must be a table ([{}]), not {}", key_path(key), type_name(*n)));
        return nullptr;
    }
    // Marks keys as known without reading them (e.g. handled by another reader).
    void ignore(std::string_view key) { used_.insert(std::string(key)); }

    // Every key nobody asked for is an error; `hint` may name where it belongs.
    void finish(const std::map<std::string, std::string>& hints = {}) {
        for (auto&& [k, v] : table_) {
            std::string name(k.str());
            if (used_.count(name)) continue;
            auto hint = hints.find(name);
            sink_.add(k.source(), key_path(name),
                      hint != hints.end() ? fmt::format("unknown key ({})", hint->second)
                                          : std::string("unknown key"));
        }
    }

    const toml::table& table() const { return table_; }
    const std::set<std::string>& used() const { return used_; }
    error_sink& sink() { return sink_; }
    const fs::path& base() const { return base_; }

    static std::string type_name(const toml::node& n) {
        switch (n.type()) {
            case toml::node_type::table:
                return "a table";
            case toml::node_type::array:
                return "an array";
            case toml::node_type::string:
                return "a string";
            case toml::node_type::integer:
                return "an integer";
            case toml::node_type::floating_point:
                return "a float";
            case toml::node_type::boolean:
                return "a boolean";
            case toml::node_type::date:
                return "a date";
            case toml::node_type::time:
                return "a time";
            case toml::node_type::date_time:
                return "a date-time";
            default:
                return "nothing";
        }
    }

private:
    const toml::table& table_;
    std::string prefix_;
    error_sink& sink_;
    fs::path base_;
    std::set<std::string> used_;
};

}  // namespace labsync::config::detail
