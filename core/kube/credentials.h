#pragma once
// The credentials a request carries: a bearer token (inline, token file, or an exec plugin's),
// basic auth, or a client certificate (inline, file, or an exec plugin's).
#include "common/expected.h"
#include "kubeconfig.h"
#include "kubeerror.h"

#include <QDateTime>
#include <QObject>
#include <QSslCertificate>
#include <QSslKey>

#include <chrono>
#include <functional>
#include <memory>

namespace iterdeck::kube {

struct Credentials
{
    QByteArray bearerToken; // empty when none
    QString username; // basic auth when non-empty
    QString password;
    QSslCertificate clientCertificate; // null when none
    QList<QSslCertificate> clientChain; // intermediates after the leaf, if the PEM had any
    QSslKey clientKey;
    QDateTime expiry; // invalid = does not expire

    // "Bearer …" or "Basic …", or empty.
    QByteArray authorizationHeader() const;
};

// Produces credentials for one user, running its exec plugin when it has one (asynchronously,
// with KUBERNETES_EXEC_INFO, stderr passed through) and caching the result until it expires.
// Concurrent fetches share one plugin run. Lives in the thread that created it.
class CredentialProvider : public QObject
{
    Q_OBJECT
public:
    explicit CredentialProvider(ClientConfig config, QObject *parent = nullptr);
    ~CredentialProvider() override;

    using Callback = std::function<void(const Expected<Credentials, KubeError> &)>;
    // Calls `done` exactly once, through `context`'s event loop (never from inside fetch()),
    // unless `context` is destroyed first.
    void fetch(QObject *context, Callback done);

    // After a 401: forgets the plugin's credential (the next fetch runs the plugin again) and
    // re-reads the token file. No effect for static credentials.
    void invalidate();
    // True when invalidate() can produce different credentials (an exec plugin or a token file).
    bool canRefresh() const;

    // Whether the plugin may use the terminal: interactiveMode Always needs it, IfAvailable uses
    // it when given. Default false (the GUI and tests); iterdeckctl sets it when stdin is a tty.
    void setInteractive(bool interactive);
    // How long one exec plugin run may take before it is killed and the fetch fails with a
    // Timeout error. Default 60 s, or 10 min when the plugin gets the terminal (someone may be
    // typing a password or finishing a browser login).
    void setPluginTimeout(std::chrono::milliseconds timeout);

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::kube
