#pragma once

#include <cstdint>
#include <string>

namespace iterdeck::ctl {

struct SandboxUpOptions
{
    std::string dataDir;
    std::uint16_t port = 0;
    std::string address = "127.0.0.1";
    std::string kubeconfigOut;
    std::string imagesFile;
    std::string isolation = "auto";
};

// Serves the sandbox cluster until SIGINT/SIGTERM. Returns the exit status.
int runSandboxUp(const SandboxUpOptions &options);

} // namespace iterdeck::ctl
