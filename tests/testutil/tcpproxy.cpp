#include "tcpproxy.h"

#include <QHostAddress>

namespace iterdeck::testing {

TcpProxy::TcpProxy(quint16 targetPort, QObject *parent)
    : QObject(parent)
    , m_target(targetPort)
{
    connect(&m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket *c = m_server.nextPendingConnection()) {
            ++m_accepted;
            if (m_refusing) {
                c->abort();
                c->deleteLater();
                continue;
            }
            auto *p = new Pair;
            p->client = c;
            p->upstream = new QTcpSocket(this);
            c->setParent(this);
            m_pairs.append(p);
            auto close = [this, p] {
                if (p->client)
                    p->client->disconnectFromHost();
                if (p->upstream)
                    p->upstream->disconnectFromHost();
            };
            connect(c, &QTcpSocket::readyRead, this, [this, p] { pump(p); });
            connect(p->upstream, &QTcpSocket::readyRead, this, [this, p] { pump(p); });
            connect(p->upstream, &QTcpSocket::connected, this, [this, p] { pump(p); });
            connect(c, &QTcpSocket::disconnected, this, close);
            connect(p->upstream, &QTcpSocket::disconnected, this, close);
            connect(p->upstream, &QTcpSocket::errorOccurred, this, close);
            p->upstream->connectToHost(QHostAddress::LocalHost, m_target);
        }
    });
}

bool TcpProxy::listen()
{
    return m_server.listen(QHostAddress::LocalHost, 0);
}

void TcpProxy::pump(Pair *p)
{
    if (m_stalled || !p->client || !p->upstream || p->upstream->state() != QAbstractSocket::ConnectedState)
        return;
    if (p->client->bytesAvailable())
        p->upstream->write(p->client->readAll());
    if (p->upstream->bytesAvailable())
        p->client->write(p->upstream->readAll());
}

void TcpProxy::cutAll()
{
    for (Pair *p : std::as_const(m_pairs)) {
        if (p->client)
            p->client->abort();
        if (p->upstream)
            p->upstream->abort();
    }
    qDeleteAll(m_pairs);
    m_pairs.clear();
}

void TcpProxy::setStalled(bool stalled)
{
    m_stalled = stalled;
    if (!stalled) {
        for (Pair *p : std::as_const(m_pairs))
            pump(p);
    }
}

void TcpProxy::setRefusing(bool refusing)
{
    m_refusing = refusing;
}

int TcpProxy::connectionCount() const
{
    int n = 0;
    for (const Pair *p : m_pairs)
        n += p->client && p->client->state() == QAbstractSocket::ConnectedState ? 1 : 0;
    return n;
}

} // namespace iterdeck::testing
