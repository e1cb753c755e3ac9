#pragma once

#include <string>
#include <vector>

namespace iterdeck::ctl {

struct SyncOptions
{
    std::string localDir;
    std::string remoteCommand;
    std::string mode = "send";
    bool once = false;
    std::vector<std::string> ignore;
    bool gitIgnore = false;
    bool syncGit = false;
    bool noDeleteProtection = false;
    std::string compress = "yes"; // yes | no
    std::string status; // "" (human, on stderr) or "json" (one JSON object a line, on stdout)
};

// Exit codes: 0 done (with --once: both sides identical), 1 sync failed or halted, 2 usage error.
int runSync(const SyncOptions &options);

} // namespace iterdeck::ctl
