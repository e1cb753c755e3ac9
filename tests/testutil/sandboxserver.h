#pragma once
// A real sandbox cluster (HTTPS, the full API, pods as local processes) on a background thread,
// for tests that talk to it over the network like any client would.
#include <QString>

#include <memory>

namespace iterdeck::testing {

class SandboxServer
{
public:
    // Starts in `dataDir` (certificates, tokens, kubeconfig, pod roots); isolation "plain" keeps
    // pods cheap (no bubblewrap). Check isRunning() / errorString().
    explicit SandboxServer(const QString &dataDir, const QString &isolation = QStringLiteral("plain"));
    struct Options
    {
        QString isolation = QStringLiteral("plain");
        int watchHistory = 20000; // small values force 410 Expired on resumed watches
        int bookmarkIntervalSeconds = 10;
    };
    SandboxServer(const QString &dataDir, const Options &options);
    ~SandboxServer(); // stops the pods and the server

    bool isRunning() const;
    QString errorString() const;
    quint16 port() const;
    QString kubeconfigPath() const; // contexts sandbox-admin (token, current) and sandbox-developer (cert)
    QString dataDir() const;
    QString server() const; // https://127.0.0.1:PORT
    QString adminToken() const;
    QString caFile() const;

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::testing
