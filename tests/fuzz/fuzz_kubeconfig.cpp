// libFuzzer entry point: arbitrary bytes as a kubeconfig file (see fuzzkubeconfig.h).
#include "fuzzkubeconfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!iterdeck::fuzz::kubeconfigOnce(data, size))
        __builtin_trap();
    return 0;
}
