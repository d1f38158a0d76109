#pragma once
// The identifier rule (SPEC §3), defined once for every module: the receiver's routes, the config
// loader, the admin protocol, the job store, the engine's watcher and every transport driver.
//
// An equipment name is 1..64 and a run id 1..128 characters of [A-Za-z0-9._-] that do not start
// with '.'. Both become path components (runs root, outbox, quarantine, the receiver's store, the
// remote tree), so a leading dot is refused: it would allow ".", "..", hidden files and the names
// the layouts reserve for themselves (reserved_names below), e.g. an equipment ".tmp" whose runs
// would land in the receiver's temp directory and be deleted at its next start.
//
// Pure functions, no allocation except in id_refusal_reason.

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace labsync::common {

enum class id_kind { equipment, run };

inline constexpr std::size_t max_equipment_id_length = 64;
inline constexpr std::size_t max_run_id_length = 128;

std::size_t max_id_length(id_kind kind) noexcept;

// Names the storage layouts use beside equipment and run directories. Every one starts with '.'
// (so the leading-dot rule already refuses it); they are listed so a layout change that adds a
// name has one place to add it, and the rule's table test covers each of them.
inline constexpr std::string_view receiver_temp_dir = ".tmp";               // <store>/.tmp (receiver)
inline constexpr std::string_view remote_staging_dir = ".labsync-staging";  // rsync_ssh remote
inline constexpr std::array<std::string_view, 2> reserved_names{receiver_temp_dir, remote_staging_dir};

enum class id_refusal {
    none,         // valid
    empty,        // ""
    too_long,     // over max_id_length(kind)
    bad_char,     // a character outside [A-Za-z0-9._-]
    reserved,     // one of reserved_names
    leading_dot,  // ".", "..", ".hidden"
};

id_refusal check_id(id_kind kind, std::string_view id) noexcept;

bool valid_equipment_id(std::string_view id) noexcept;
bool valid_run_id(std::string_view id) noexcept;

// Why `id` is refused, naming it, e.g. `equipment name ".tmp" is reserved (a directory of the
// storage layouts)`; empty when it is valid. Non-printable characters are shown as \xHH.
std::string id_refusal_reason(id_kind kind, std::string_view id);

// The reason for the first of the two that is refused (equipment first); empty when both are valid.
// For the places that receive both at once: a URL, a push request, an admin command.
std::string ids_refusal_reason(std::string_view equipment, std::string_view run);

// "equipment name" / "run id", for messages.
std::string_view to_string(id_kind kind) noexcept;

}  // namespace labsync::common
