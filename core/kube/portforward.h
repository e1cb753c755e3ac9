#pragma once
// Port-forward over the WebSocket channel protocol (v4.channel.k8s.io): a local QTcpServer per
// mapping, one WebSocket per accepted connection, many at once. Following a workload by label
// selector: when its pod goes away the forwarder finds the new one (with backoff) and goes on.
// Facts: shared/reference/kube-protocol.md §6.
#include "kubeerror.h"

#include <QHostAddress>
#include <QList>
#include <QObject>

#include <memory>

namespace iterdeck::kube {

class KubeClient;

struct PortMapping
{
    quint16 localPort = 0; // 0 = any free port (see PortForwarder::localPort)
    quint16 remotePort = 0;
};

struct PortForwardTarget
{
    QString ns;
    QString pod; // a fixed pod, or
    QString labelSelector; // the Running pod matching this (e.g. a deployment's selector)
};

class PortForwarder : public QObject
{
    Q_OBJECT
public:
    enum class State { Idle, Starting, Listening, Reconnecting, Failed, Stopped };
    Q_ENUM(State)

    PortForwarder(KubeClient *client, PortForwardTarget target, QList<PortMapping> mappings, QObject *parent = nullptr);
    ~PortForwarder() override;

    void setAddress(const QHostAddress &address); // default 127.0.0.1
    void start();
    void stop();

    State state() const;
    QString failureReason() const; // when Failed, or the last problem while Reconnecting
    QString currentPod() const;
    quint16 localPort(int mappingIndex) const; // the bound port, once Listening
    int activeConnections() const;

Q_SIGNALS:
    void stateChanged(iterdeck::kube::PortForwarder::State state);
    void connectionOpened(quint16 localPort);
    void connectionClosed(quint16 localPort, const QString &error); // error empty on a clean close

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::kube
