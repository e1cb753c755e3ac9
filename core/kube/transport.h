#pragma once
// How to reach the cluster's API server: address, TLS settings, proxy and the headers every
// request carries (authorization, impersonation). Made by KubeClient::transport() for streams
// that do not go through QNetworkAccessManager (exec, port-forward).
#include <QByteArray>
#include <QList>
#include <QNetworkProxy>
#include <QPair>
#include <QSslConfiguration>
#include <QUrl>

namespace iterdeck::kube {

struct Transport
{
    QUrl server; // https://host:port[/prefix]
    QSslConfiguration ssl; // CA (only the kubeconfig's when it has one), client certificate, verify mode
    QString peerVerifyName; // tls-server-name: SNI and the name the certificate must match; empty = host
    QNetworkProxy proxy = QNetworkProxy(QNetworkProxy::NoProxy);
    QList<QPair<QByteArray, QByteArray>> headers; // Authorization, Impersonate-*, User-Agent

    bool isHttps() const { return server.scheme() == QLatin1String("https"); }
};

} // namespace iterdeck::kube
