// ctest fixture "setup: ssh test user" (FIXTURES_SETUP labsync_ssh_user): creates the sshd
// fixture's user once, before any test that logs in as it starts, so that no two test processes
// ever race to create it (sshd_fixture.hpp says what that race did).
#include "skip.hpp"
#include "sshd_fixture.hpp"

#include <pwd.h>
#include <catch2/catch.hpp>

TEST_CASE("the ssh test user exists and can log in with a key", "[setup]") {
    using namespace labsync::test;
    if (!running_as_root()) skip_test("creating the ssh test user needs root");
    const ssh_test_user_ids ids = ensure_ssh_test_user();
    const passwd* pw = ::getpwnam(ssh_test_user().c_str());
    REQUIRE(pw != nullptr);
    CHECK(pw->pw_uid == ids.uid);
    CHECK(ids.uid != 0);
}
