#pragma once

#include "desktopstream.h"
#include "eventsink.h"
#include "httpserver.h"
#include "metrics.h"
#include "model/teammanifest.h"
#include "store.h"
#include "webhookprocessor.h"
#include "webhookwriter.h"

#include <QHash>
#include <QObject>
#include <QPointer>

#include <memory>
#include <optional>

namespace iterdeck::bot {

class ImGateway;

struct BotServerOptions
{
    QString address = QStringLiteral("127.0.0.1");
    quint16 port = 8080;
    QString tlsCertificate; // both set: serve HTTPS
    QString tlsKey;
    std::size_t maxBodyBytes = 1024 * 1024;
    int threads = 1; // that run the HTTP connections
    int webSocketThreads = 1; // that run the desktop stream's connections
};

// iterdeck-bot's HTTP face: POST /hooks/<name> (webhooks, and the IM platform's callbacks at
// /hooks/<platform>), /healthz, /readyz, /metrics, and the desktop API's WebSocket /v1/stream.
// Requests are read on the HTTP thread and handled here, on the thread of this object, which owns the store.
class BotServer : public QObject
{
    Q_OBJECT

public:
    BotServer(model::TeamManifest manifest, std::unique_ptr<Store> store, QObject *parent = nullptr);
    ~BotServer() override;

    // Reads every hook's secret; an error names the hook and what is wrong.
    Expected<bool, QString> loadHooks();
    // Starts serving; false with *error set when it cannot.
    bool start(const BotServerOptions &options, QString *error);
    void stop();
    quint16 port() const;
    QString url() const;

    // Sinks are told about committed events; they are not owned.
    void addEventSink(EventSink *sink);
    // Serves the desktop API (GET /v1/stream upgrades) with it; not owned. Call before start().
    void setDesktopStream(DesktopStream *stream);
    // Serves the IM platform's callbacks (/hooks/<platform>) with it; not owned. Call before start().
    void setImGateway(ImGateway *gateway);
    // Webhooks are then verified and committed on a thread of their own, with a second connection
    // to the store named by `options` (the same store), instead of on this object's thread. Call
    // before start().
    void commitWebhooksOnThread(const StoreOptions &options);
    Metrics &metrics() { return m_metrics; }
    Store &store() { return *m_store; }

private:
    void handle(HttpRequest request, const Respond &respond);
    void handleHook(const QString &name, HttpRequest request, const Respond &respond);
    void handleIm(HttpRequest request, const Respond &respond);
    void answerHook(const QString &name, const std::string &remoteAddress, const WebhookOutcome &out,
                    const Respond &respond);
    void tellSinks(const QList<model::Event> &events);

    model::TeamManifest m_manifest;
    std::unique_ptr<Store> m_store;
    Metrics m_metrics;
    WebhookProcessor m_processor;
    QHash<QString, WebhookHook> m_hooks;
    QList<EventSink *> m_sinks;
    QPointer<DesktopStream> m_stream;
    QPointer<ImGateway> m_im;
    std::optional<StoreOptions> m_writerStore;
    std::unique_ptr<WebhookWriter> m_writer;
    std::unique_ptr<HttpServer> m_http;
    QString m_address;
};

} // namespace iterdeck::bot
