#pragma once
// A TCP relay between a client and a server (TLS passes through untouched) that tests use to
// break connections the way networks do: cut them all, stall them (bytes stop flowing but the
// connections stay open), or refuse new ones.
#include <QList>
#include <QObject>
#include <QPointer>
#include <QTcpServer>
#include <QTcpSocket>

namespace iterdeck::testing {

class TcpProxy : public QObject
{
    Q_OBJECT
public:
    explicit TcpProxy(quint16 targetPort, QObject *parent = nullptr);
    bool listen(); // on 127.0.0.1, any port
    quint16 port() const { return m_server.serverPort(); }

    void cutAll(); // aborts every relayed connection (the client sees a reset)
    void setStalled(bool stalled); // stop or resume moving bytes
    void setRefusing(bool refusing); // close new connections at once
    int connectionCount() const;
    int acceptedTotal() const { return m_accepted; }

private:
    struct Pair
    {
        QPointer<QTcpSocket> client;
        QPointer<QTcpSocket> upstream;
    };
    void pump(Pair *p);

    QTcpServer m_server;
    quint16 m_target;
    QList<Pair *> m_pairs;
    bool m_stalled = false;
    bool m_refusing = false;
    int m_accepted = 0;
};

} // namespace iterdeck::testing
