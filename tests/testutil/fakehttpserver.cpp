#include "fakehttpserver.h"

#include <QHostAddress>
#include <QTcpSocket>

namespace iterdeck::testing {

FakeHttpServer::FakeHttpServer(QObject *parent)
    : QObject(parent)
{
    connect(&m_server, &QTcpServer::newConnection, this, [this] {
        while (QTcpSocket *s = m_server.nextPendingConnection()) {
            s->setParent(this);
            auto buffer = std::make_shared<QByteArray>();
            connect(s, &QTcpSocket::readyRead, this, [this, s, buffer] {
                *buffer += s->readAll();
                for (;;) {
                    const qsizetype end = buffer->indexOf("\r\n\r\n");
                    if (end < 0)
                        return;
                    const QByteArray head = buffer->left(end);
                    qsizetype length = 0;
                    for (const QByteArray &line : head.split('\n')) {
                        if (line.toLower().startsWith("content-length:"))
                            length = line.mid(15).trimmed().toLongLong();
                    }
                    if (buffer->size() < end + 4 + length)
                        return;
                    Request r;
                    const QList<QByteArray> first = head.left(head.indexOf("\r\n")).split(' ');
                    r.method = first.value(0);
                    r.target = first.value(1);
                    r.headers = head;
                    r.body = buffer->mid(end + 4, length);
                    buffer->remove(0, end + 4 + length);
                    m_requests.append(r);
                    const Answer a = m_answers.isEmpty() ? reply(500, "{}")
                                                         : m_answers.value(std::min(m_next, int(m_answers.size()) - 1));
                    ++m_next;
                    if (a.silent)
                        return;
                    s->write(a.raw);
                    if (a.closeAfter) {
                        s->disconnectFromHost();
                        return;
                    }
                }
            });
            connect(s, &QTcpSocket::disconnected, s, &QObject::deleteLater);
        }
    });
}

bool FakeHttpServer::listen()
{
    return m_server.listen(QHostAddress::LocalHost, 0);
}

QString FakeHttpServer::url() const
{
    return QStringLiteral("http://127.0.0.1:%1").arg(port());
}

FakeHttpServer::Answer FakeHttpServer::reply(int status, const QByteArray &body, const QByteArray &extraHeaders,
                                             const QByteArray &contentType)
{
    Answer a;
    a.raw = "HTTP/1.1 " + QByteArray::number(status) + " X\r\nContent-Type: " + contentType + "\r\nContent-Length: "
        + QByteArray::number(body.size()) + "\r\n" + extraHeaders + "Connection: close\r\n\r\n" + body;
    return a;
}

} // namespace iterdeck::testing
