#pragma once
// A scripted HTTP/1.1 server for the failures a real API server rarely shows on demand: garbage
// or truncated bodies, 429 with Retry-After, 5xx, a connection dropped mid-answer, an upgrade
// that never comes. Each request takes the next scripted answer (the last one repeats).
#include <QByteArray>
#include <QList>
#include <QObject>
#include <QTcpServer>

namespace iterdeck::testing {

class FakeHttpServer : public QObject
{
    Q_OBJECT
public:
    struct Answer
    {
        QByteArray raw; // bytes written as the whole answer (status line, headers, body)
        bool closeAfter = true; // close the connection after writing
        bool silent = false; // write nothing and keep the connection open
    };
    struct Request
    {
        QByteArray method;
        QByteArray target;
        QByteArray headers;
        QByteArray body;
    };

    explicit FakeHttpServer(QObject *parent = nullptr);
    bool listen();
    quint16 port() const { return m_server.serverPort(); }
    QString url() const;

    void enqueue(const Answer &answer) { m_answers.append(answer); }
    // A complete answer with a body; extra headers end with \r\n each.
    static Answer reply(int status, const QByteArray &body, const QByteArray &extraHeaders = {},
                        const QByteArray &contentType = "application/json");
    const QList<Request> &requests() const { return m_requests; }

private:
    QTcpServer m_server;
    QList<Answer> m_answers;
    QList<Request> m_requests;
    int m_next = 0;
};

} // namespace iterdeck::testing
