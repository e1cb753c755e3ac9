// libFuzzer entry point: arbitrary bytes into both config loaders (see fuzzconfig.h).
#include "fuzzconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iterdeck::fuzz::configOnce(data, size))
        __builtin_trap();
    return 0;
}
