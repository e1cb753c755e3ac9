#pragma once
// iterdeck-bot assembled: the store, the HTTP server with its webhooks and desktop stream, the
// environment manager (with a cluster), the command engine, and the groups: the built-in
// channels, or the external IM platform's adapter with its callbacks (ImGateway). The daemon and
// the desktop app's sandbox demo both run this.
#include "botserver.h"
#include "desktopstream.h"
#include "environmentmanager.h"
#include "store.h"

#include <QObject>

#include <memory>

class QNetworkAccessManager;

namespace iterdeck::kube {
class KubeClient;
}

namespace iterdeck::im {
class ImAdapter;
}

namespace iterdeck::bot {

class BuiltinChannels;
class CardFollower;
class CommandEngine;
class GroupManager;
class ImGateway;

struct BotServiceOptions
{
    StoreOptions store;
    EnvironmentManagerOptions environments; // manifestDir: where iterdeck.yaml is
    DesktopStreamOptions stream; // pollMs is set for PostgreSQL when left 0
};

class BotService : public QObject
{
    Q_OBJECT
public:
    // Opens the store, reads the hooks' secrets and makes the IM adapter (its secrets too).
    // `cluster` (not owned; may be null: no environments) must outlive the service.
    static Expected<std::unique_ptr<BotService>, QString>
    create(const model::TeamManifest &manifest, kube::KubeClient *cluster, const BotServiceOptions &options);
    ~BotService() override;

    // Picks up what the store says (cleanups, interrupted work, groups), then serves.
    bool start(const BotServerOptions &options, QString *error);
    // Closes the desktop connections and stops serving.
    void stop();

    BotServer &server() { return *m_server; }
    Store &store() { return m_server->store(); }
    EnvironmentManager *environments() { return m_environments.get(); }
    DesktopStream &stream() { return *m_stream; }
    CommandEngine &commands() { return *m_commands; }
    BuiltinChannels *channels() { return m_channels.get(); }
    GroupManager *groups() { return m_groups.get(); }
    im::ImAdapter *imAdapter() { return m_adapter.get(); } // null for im.adapter none
    ImGateway *imGateway() { return m_gateway.get(); }
    CardFollower *cardFollower() { return m_follower.get(); } // null without an adapter or environments

private:
    BotService() = default;

    std::unique_ptr<BotServer> m_server;
    std::unique_ptr<EnvironmentManager> m_environments;
    std::unique_ptr<QNetworkAccessManager> m_nam;
    std::unique_ptr<im::ImAdapter> m_adapter;
    std::unique_ptr<BuiltinChannels> m_channels;
    std::unique_ptr<GroupManager> m_groups;
    std::unique_ptr<CommandEngine> m_commands;
    std::unique_ptr<DesktopStream> m_stream;
    std::unique_ptr<CardFollower> m_follower;
    std::unique_ptr<ImGateway> m_gateway;
};

} // namespace iterdeck::bot
