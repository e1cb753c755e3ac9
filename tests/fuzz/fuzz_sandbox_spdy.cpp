// libFuzzer entry point: arbitrary bytes into the sandbox's SPDY/3.1 frame parser, header block
// decoder and server session (see fuzzsandboxspdy.h).
#include "fuzzsandboxspdy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iterdeck::fuzz::sandboxSpdyOnce(data, size))
        __builtin_trap();
    return 0;
}
