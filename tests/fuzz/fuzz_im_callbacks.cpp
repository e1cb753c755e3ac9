// libFuzzer entry point: arbitrary bytes into every IM adapter's callback path (see fuzzimcallbacks.h).
#include "fuzzimcallbacks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static iterdeck::fuzz::ImAdapters adapters;
    if (!iterdeck::fuzz::imCallbackOnce(adapters, data, size))
        __builtin_trap();
    return 0;
}
