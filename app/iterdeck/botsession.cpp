#include "botsession.h"

#include "settingsdialog.h"

#include <QSettings>
#include <QTimer>

#include <qt6keychain/keychain.h>

namespace iterdeck::app {

using namespace iterdeck::chatops;

namespace {
const QString kLastSeq = QStringLiteral("bot/lastSeq");
const QString kSeqUrl = QStringLiteral("bot/lastSeqUrl"); // the bot the sequence belongs to
} // namespace

BotSession::BotSession(QSettings *settings, QObject *parent)
    : QObject(parent)
    , m_settings(settings)
    , m_client(new BotClient(this))
    , m_state(new StreamState(this))
{
    connect(m_client, &BotClient::snapshotReceived, this, [this](const Snapshot &s) {
        m_snapshotAsked = false;
        m_state->reset(s);
    });
    connect(m_client, &BotClient::eventReceived, this, [this](const model::Event &e, bool replayed) {
        if (!m_state->apply(e, replayed) && !m_snapshotAsked) {
            // Something the state cannot follow: fetch the whole picture again.
            m_snapshotAsked = true;
            m_client->request(QLatin1String(method::Snapshot), {}, this, [this](const BotClient::Result &r) {
                m_snapshotAsked = false;
                if (r)
                    m_state->reset(Snapshot::fromJson(*r));
            });
        }
        m_settings->setValue(kLastSeq, m_client->lastSeq());
    });
    connect(m_client, &BotClient::stateChanged, this, [this](BotClient::State s) {
        if (s == BotClient::State::Connected)
            setProblem({});
        Q_EMIT connectionChanged();
    });
    connect(m_client, &BotClient::connectionError, this, [this](const QString &message) { setProblem(message); });
}

void BotSession::setProblem(const QString &problem)
{
    if (m_problem == problem)
        return;
    m_problem = problem;
    Q_EMIT connectionChanged();
}

void BotSession::startFromSettings()
{
    const QString url = m_settings->value(QStringLiteral("bot/url")).toString().trimmed();
    if (url.isEmpty()) {
        m_configured = false;
        setProblem(tr("no bot configured (Settings → Bot URL and token)"));
        return;
    }
    auto *job = new QKeychain::ReadPasswordJob(kKeychainService, this);
    job->setKey(kTokenKey);
    connect(job, &QKeychain::Job::finished, this, [this, job, url]() {
        QString token;
        if (job->error() == QKeychain::NoError)
            token = job->textData();
        else
            token.clear();
        if (token.isEmpty()) {
            setProblem(tr("no bot token (Settings → Bot token)"));
            return;
        }
        start(QUrl::fromUserInput(url), token, m_settings->value(QStringLiteral("bot/allowInsecure")).toBool());
    });
    job->start();
}

void BotSession::start(const QUrl &url, const QString &token, bool allowInsecure)
{
    m_client->stop();
    BotClientOptions o;
    o.botUrl = url;
    o.token = token;
    o.allowInsecure = allowInsecure;
    o.clientName = QStringLiteral("iterdeck");
    if (auto ok = m_client->setOptions(o); !ok) {
        m_configured = false;
        setProblem(ok.error());
        return;
    }
    m_configured = true;
    // The sequence is only meaningful for the bot it came from.
    if (m_settings->value(kSeqUrl).toString() == url.toString())
        m_client->setLastSeq(m_settings->value(kLastSeq, -1).toLongLong());
    else
        m_client->setLastSeq(-1);
    m_settings->setValue(kSeqUrl, url.toString());
    m_client->start();
}

void BotSession::stop()
{
    m_client->stop();
}

} // namespace iterdeck::app
