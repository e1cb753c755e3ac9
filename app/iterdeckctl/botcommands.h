#pragma once
// iterdeckctl bot: the bot's desktop API from a terminal (core/chatops): status, envs, deploy,
// run (a chat command), watch (the event stream).
#include <string>
#include <vector>

namespace iterdeck::ctl {

struct BotCliOptions
{
    std::string bot; // --bot URL, default $ITERDECK_BOT_URL
    std::string token; // --token, default $ITERDECK_TOKEN
    std::string caFile; // --ca FILE
    bool allowInsecure = false;
    std::string output; // "" or json
    std::string environment; // deploy: ENV (namespace, id or iteration)
    std::string component; // deploy
    std::string follow; // deploy --follow BRANCH
    std::string pin; // deploy --pin BUILD (artifact id, build, tag or digest)
    bool redeploy = false; // deploy --redeploy
    long long since = -1; // watch --since SEQ
    std::vector<std::string> words; // run
};

// Exit codes: 0 done; 1 the bot refused or failed (the reason on stderr); 2 usage.
int runBotStatus(const BotCliOptions &options);
int runBotEnvs(const BotCliOptions &options);
int runBotDeploy(const BotCliOptions &options);
int runBotRun(const BotCliOptions &options);
int runBotWatch(const BotCliOptions &options);

} // namespace iterdeck::ctl
