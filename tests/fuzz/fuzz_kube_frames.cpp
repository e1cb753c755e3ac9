// libFuzzer entry point: arbitrary bytes into the kube streams' protocol layer (see
// fuzzkubeframes.h).
#include "fuzzkubeframes.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iterdeck::fuzz::kubeFramesOnce(data, size))
        __builtin_trap();
    return 0;
}
