// libFuzzer entry point: arbitrary requests into every webhook parser (see fuzzwebhooks.h).
#include "fuzzwebhooks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iterdeck::fuzz::webhooksOnce(data, size))
        __builtin_trap();
    return 0;
}
