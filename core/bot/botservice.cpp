#include "botservice.h"

#include "builtinchannels.h"
#include "cardfollower.h"
#include "commandengine.h"
#include "groupmanager.h"
#include "im/adapterfactory.h"
#include "im/imadapter.h"
#include "imgateway.h"

#include <QNetworkAccessManager>

namespace iterdeck::bot {

Expected<std::unique_ptr<BotService>, QString>
BotService::create(const model::TeamManifest &manifest, kube::KubeClient *cluster, const BotServiceOptions &options)
{
    auto store = Store::open(options.store);
    if (!store)
        return unexpected(store.error().message);
    std::unique_ptr<BotService> s(new BotService);
    s->m_server = std::make_unique<BotServer>(manifest, std::move(*store));
    if (auto hooks = s->m_server->loadHooks(); !hooks)
        return unexpected(hooks.error());
    // Webhooks commit on a thread of their own: their answers never wait for the desktop fan-out.
    s->m_server->commitWebhooksOnThread(options.store);
    Store *st = &s->m_server->store();
    if (cluster) {
        s->m_environments = std::make_unique<EnvironmentManager>(manifest, st, cluster, options.environments);
        s->m_server->addEventSink(s->m_environments.get());
    }
    // The bot's own channels, or the external IM platform's groups through its adapter.
    if (manifest.im.adapter == u"none" || manifest.im.adapter.isEmpty()) {
        s->m_channels = std::make_unique<BuiltinChannels>(st);
        s->m_groups = std::make_unique<GroupManager>(manifest, st, s->m_channels.get());
    } else {
        s->m_nam = std::make_unique<QNetworkAccessManager>();
        auto adapter = im::createAdapter(manifest.im, s->m_nam.get());
        if (!adapter)
            return unexpected(adapter.error().message);
        s->m_adapter.reset(*adapter);
        s->m_groups = std::make_unique<GroupManager>(manifest, st, s->m_adapter.get());
    }
    s->m_groups->setWaitForEnvironments(cluster != nullptr);
    s->m_server->addEventSink(s->m_groups.get());
    s->m_commands = std::make_unique<CommandEngine>(manifest, st, s->m_environments.get());
    if (s->m_adapter) {
        s->m_gateway = std::make_unique<ImGateway>(manifest, st, s->m_adapter.get(), s->m_commands.get());
        if (s->m_environments) {
            s->m_follower
                = std::make_unique<CardFollower>(s->m_commands.get(), s->m_environments.get(), s->m_adapter.get());
            s->m_gateway->setCardFollower(s->m_follower.get());
        }
        s->m_server->setImGateway(s->m_gateway.get());
    }
    DesktopStreamOptions so = options.stream;
    if (so.pollMs == 0 && st->backend() == Store::Backend::Postgres)
        so.pollMs = 500; // other replicas append to the same log
    s->m_stream = std::make_unique<DesktopStream>(manifest, st, s->m_environments.get(), so);
    s->m_stream->setMetrics(&s->m_server->metrics());
    s->m_stream->setCommandEngine(s->m_commands.get());
    s->m_stream->setChannels(s->m_channels.get());
    s->m_server->setDesktopStream(s->m_stream.get());
    s->m_server->addEventSink(s->m_stream.get());
    // What the environment manager and the channels write reaches the groups and the stream too.
    BotService *self = s.get();
    if (s->m_environments) {
        connect(s->m_environments.get(), &EnvironmentManager::eventsAppended, self,
                [self](const QList<model::Event> &events) {
                    if (self->m_groups)
                        self->m_groups->eventsCommitted(events);
                    if (self->m_follower)
                        self->m_follower->eventsCommitted(events);
                });
    }
    if (s->m_channels) {
        connect(s->m_channels.get(), &BuiltinChannels::eventsAppended, s->m_stream.get(), &DesktopStream::wake);
    }
    return s;
}

BotService::~BotService()
{
    stop();
    // The stream and the groups refer to the rest: they go first.
    m_stream.reset();
    m_gateway.reset();
    m_follower.reset();
    m_commands.reset();
    m_groups.reset();
    m_channels.reset();
    m_adapter.reset();
    m_nam.reset();
    m_environments.reset();
    m_server.reset();
}

bool BotService::start(const BotServerOptions &options, QString *error)
{
    if (m_environments)
        m_environments->start();
    if (m_groups)
        m_groups->start();
    return m_server->start(options, error);
}

void BotService::stop()
{
    if (m_stream)
        m_stream->closeAll();
    if (m_server)
        m_server->stop();
}

} // namespace iterdeck::bot
