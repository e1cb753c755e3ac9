// libFuzzer entry point: arbitrary bytes into the sandbox's patch functions and selector parsers
// (see fuzzsandboxpatch.h).
#include "fuzzsandboxpatch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iterdeck::fuzz::sandboxPatchOnce(data, size))
        __builtin_trap();
    return 0;
}
