// The permission rule of files holding secrets (labsync/common/secret_file.hpp): the verdict per
// mode as a table, and check_secret_file on real files.
#include "labsync/common/secret_file.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace labsync::common;

TEST_CASE("secret files: group/world-readable warns, group/world-writable is refused", "[common][unit]") {
    struct row {
        unsigned mode;
        secret_exposure expected;
    };
    const row table[] = {
        {0600, secret_exposure::owner_only},         {0400, secret_exposure::owner_only},
        {0700, secret_exposure::owner_only},         {0711, secret_exposure::owner_only},
        {0640, secret_exposure::readable_by_others}, {0604, secret_exposure::readable_by_others},
        {0644, secret_exposure::readable_by_others}, {0444, secret_exposure::readable_by_others},
        {0620, secret_exposure::writable_by_others}, {0602, secret_exposure::writable_by_others},
        {0660, secret_exposure::writable_by_others}, {0666, secret_exposure::writable_by_others},
        {0622, secret_exposure::writable_by_others}, {04600, secret_exposure::owner_only},
    };
    for (const auto& r : table) {
        INFO(format_mode(r.mode));
        CHECK(classify_secret_mode(r.mode) == r.expected);
    }
    CHECK(format_mode(0644) == "0644");
    CHECK(format_mode(0100600) == "0600");
}

TEST_CASE("check_secret_file names the file, its mode and the fix", "[common][unit]") {
    labsync::test::temp_dir tmp;
    const auto file = tmp / "token";
    labsync::test::write_file(file, "tok-0123456789abcdef\n");

    ::chmod(file.c_str(), 0600);
    auto ok = check_secret_file(file, "token_file");
    CHECK(ok.exposure == secret_exposure::owner_only);
    CHECK(ok.mode == 0600);
    CHECK(ok.message.empty());

    ::chmod(file.c_str(), 0644);
    auto readable = check_secret_file(file, "token_file");
    CHECK(readable.exposure == secret_exposure::readable_by_others);
    CHECK_THAT(readable.message, Catch::StartsWith("token_file " + file.string() + " (mode 0644)"));
    CHECK_THAT(readable.message, Catch::Contains("readable by group and others"));
    CHECK_THAT(readable.message, Catch::Contains("chmod 600 " + file.string()));

    ::chmod(file.c_str(), 0620);
    auto writable = check_secret_file(file, "token_file");
    CHECK(writable.exposure == secret_exposure::writable_by_others);
    CHECK_THAT(writable.message, Catch::Contains("(mode 0620) is writable by group"));

    auto missing = check_secret_file(tmp / "nope", "token_file");
    CHECK(missing.error);
    CHECK(missing.message.empty());
}
