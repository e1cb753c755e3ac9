// Fuzzes the sandbox API behind the HTTP layer: any method, path, query, content type and body
// (JSON, YAML, protobuf, patches) must give a Status or an object, never a crash or a hang.
// Input: "METHOD TARGET\nCONTENT-TYPE\nBODY" (split at the first two newlines).
#include "testutil/sandboxharness.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using iterdeck::sandbox::testing::ApiHarness;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const std::string dir = [] {
        char tmpl[] = "/tmp/iterdeck-fuzz-api-XXXXXX";
        return std::string(mkdtemp(tmpl));
    }();
    std::string in(reinterpret_cast<const char *>(data), size);
    auto nl1 = in.find('\n');
    std::string first = in.substr(0, nl1);
    std::string rest = nl1 == std::string::npos ? std::string() : in.substr(nl1 + 1);
    auto nl2 = rest.find('\n');
    std::string contentType = rest.substr(0, nl2);
    std::string body = nl2 == std::string::npos ? std::string() : rest.substr(nl2 + 1);
    auto sp = first.find(' ');
    std::string method = first.substr(0, sp);
    std::string target = sp == std::string::npos ? "/" : first.substr(sp + 1);
    if (target.empty() || target[0] != '/')
        target = "/" + target;

    static ApiHarness *harness = nullptr;
    static int uses = 0;
    // A fresh cluster now and then keeps the store small and runs stay independent enough.
    if (!harness || ++uses % 500 == 0) {
        delete harness;
        harness = new ApiHarness(dir);
    }
    auto reply = harness->request(method, target, body, contentType);
    if (!reply->answered)
        std::abort();
    // A second, different request on what the first made: patches on objects that exist.
    harness->request("PATCH", target, body, "application/strategic-merge-patch+json");
    harness->request("GET", target + (target.find('?') == std::string::npos ? "?watch=1" : "&watch=1"));
    return 0;
}
