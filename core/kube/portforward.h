#pragma once
// Port-forward over the WebSocket channel protocol (v4.channel.k8s.io): a local QTcpServer per
// mapping, one WebSocket per accepted connection, many at once, with back-pressure both ways
// (neither side is read while the other has more than 1 MiB queued).
//
// Following a workload by label selector: the forwarder uses a Running pod that matches (Ready
// and newest preferred, never one being deleted). When that pod goes away (a connection's
// upgrade answers 404 or "not running", or the periodic check finds it gone, not Running or
// being deleted) the state goes to Reconnecting and the forwarder looks for another pod with
// exponential backoff (250 ms doubling to 5 s), then is Listening again. The local listeners stay
// open throughout: connections accepted meanwhile wait (unread; the client just sees a slow
// server) until a pod is found, and are closed with the reason after 30 s without one. A
// connection whose upgrade failed because its pod was gone, before any byte went either way,
// waits the same way and is then opened to the new pod. A fixed pod that goes away makes the
// forwarder Failed, as does a local port that cannot be bound.
//
// The protocol has no half-close: when the local client closes its side, what it sent is
// delivered and the stream is closed, so an answer that the pod sends afterwards is lost.
// Facts: shared/reference/kube-protocol.md §6.
#include "kubeerror.h"

#include <QHostAddress>
#include <QList>
#include <QObject>

#include <memory>
#include <optional>

namespace iterdeck::kube {

class KubeClient;

struct PortMapping
{
    quint16 localPort = 0; // 0 = any free port (see PortForwarder::localPort)
    quint16 remotePort = 0;

    // kubectl's forms: "LOCAL:REMOTE", ":REMOTE" (any free local port), "PORT" (the same both sides).
    static std::optional<PortMapping> parse(const QString &spec);
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
    // How often the current pod is checked (GET) while Listening; default 5000 ms.
    void setPodCheckInterval(int ms);
    void start();
    void stop();

    State state() const;
    // When Failed, or the last problem while Starting or Reconnecting (e.g. no pod matches yet).
    QString failureReason() const;
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
