#pragma once
// The app's connection to the bot: the URL from the settings, the token from the keychain (or
// given, for the sandbox demo), the last event sequence kept across runs so that nothing is
// notified twice or missed, and the StreamState the views render.
#include "chatops/botclient.h"
#include "chatops/streamstate.h"

#include <QObject>

class QSettings;

namespace iterdeck::app {

class BotSession : public QObject
{
    Q_OBJECT
public:
    BotSession(QSettings *settings, QObject *parent = nullptr);

    // From the settings (bot/url; the token from the keychain, read asynchronously). Not
    // configured: stays stopped and says so in problem().
    void startFromSettings();
    // With a URL and token given (the demo).
    void start(const QUrl &url, const QString &token, bool allowInsecure = false);
    void stop();

    bool isConfigured() const { return m_configured; }
    bool isConnected() const { return m_client->state() == chatops::BotClient::State::Connected; }
    QString problem() const { return m_problem; }
    chatops::BotClient *client() const { return m_client; }
    chatops::StreamState *state() const { return m_state; }

Q_SIGNALS:
    // Connected or not, and why not.
    void connectionChanged();

private:
    void setProblem(const QString &problem);

    QSettings *m_settings;
    chatops::BotClient *m_client;
    chatops::StreamState *m_state;
    QString m_problem;
    bool m_configured = false;
    bool m_snapshotAsked = false;
};

} // namespace iterdeck::app
