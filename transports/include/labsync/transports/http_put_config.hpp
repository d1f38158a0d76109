#pragma once
// Configuration of the http_put driver and the parsing of its receiver URL. The one config type of
// this transport: syncd.toml's [equipment.NAME.transport] with kind = "http_put" maps onto it key
// by key (docs/configuration.md), an embedder fills it in code; validate() holds its rules.

#include "labsync/transports/config_problem.hpp"
#include "labsync/verifier/archive_writer.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace labsync::transports {

struct http_put_config {
    // Receiver base: https://host[:port] (TLS), or http://host[:port] for loopback tests.
    std::string url;
    std::filesystem::path ca_file;      // trust anchors for the server; empty = system store
    std::filesystem::path client_cert;  // optional mTLS client certificate chain (PEM)
    std::filesystem::path client_key;   // its private key (PEM)
    std::filesystem::path token_file;   // optional bearer token, read per request and trimmed
    // Archives go to <outbox>/<equipment>/<run>.tar.zst. Not a syncd.toml key: the engine sets it
    // from engine_config::outbox_dir.
    std::filesystem::path outbox;
    // 1..19, 0 = store, verifier::zstd_level_adaptive ("adaptive" in syncd.toml). Adaptive (per
    // 1 MiB: stored or level 1): on `mixed` the smallest archive for the least CPU of both sides
    // (bench/results/2026-12-02-speed.md); level 3 took 1.8 x level 1's CPU (2026-12-02-e2e.md).
    int zstd_level = verifier::zstd_level_adaptive;
    std::chrono::milliseconds connect_timeout{10'000};  // resolve + connect + TLS handshake
    std::chrono::milliseconds io_timeout{60'000};       // one read or write making no progress
    std::string code_commit;                            // sent as X-Code-Commit when not empty
    std::size_t chunk_bytes = 1 << 20;                  // body read/write size (>= 64 KiB)
    // Largest part of a resumable upload (one PATCH); the receiver's Upload-Limit may lower it.
    // What a failed part re-sends at most (>= chunk_bytes).
    std::uint64_t part_bytes = std::uint64_t{256} << 20;
    // Memory held for the streaming upload: compressed bytes packed but not yet acknowledged by
    // the receiver. The packer waits while it is full; a part is at most half of it, so the
    // next part fills while one is in flight. 8 MiB: peak RSS near the packer's own (bench/stream.sh).
    std::uint64_t spool_bytes = std::uint64_t{8} << 20;

    // Every rule of this config that needs no I/O (whether the files exist is checked when the
    // driver is created): url, client_cert/client_key, zstd_level, timeouts, chunk_bytes, part_bytes,
    // spool_bytes.
    std::vector<config_problem> validate() const;
};

struct parsed_url {
    bool tls = true;
    std::string host;
    std::uint16_t port = 443;
    std::string base_path;  // without trailing '/', usually empty
};

// Parses a config url; nullopt and `why` set when it is not http(s)://host[:port][/path].
std::optional<parsed_url> parse_receiver_url(std::string_view url, std::string* why);

// Reads a bearer token file: the first line, surrounding whitespace trimmed. Empty result and
// `why` set when the file cannot be read, holds no token, or is writable by group or others.
std::string read_token_file(const std::filesystem::path& path, std::string* why);

}  // namespace labsync::transports
