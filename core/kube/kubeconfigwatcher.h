#pragma once
// Keeps a KubeClient on the kubeconfig as it changes on disk (kubectl config use-context, a
// cloud CLI adding a cluster, a token rotated): the files (the KUBECONFIG list or
// ~/.kube/config, or one --kubeconfig file) are watched, together with their folders, so that
// an atomic replace (write elsewhere, rename over) and a file created later are seen too. Bursts
// of changes are debounced; a reload whose files read the same as before does nothing.
//
// The client's context is kept across reloads, also when the file's current-context moves:
// the user chose it. When the context is gone (or the files no longer load), the client keeps
// its last settings and problem() says why, until a reload works again or another context is
// chosen with useContext().
#include "kubeclient.h"

#include <QByteArray>
#include <QObject>
#include <QTimer>

class QFileSystemWatcher;

namespace iterdeck::kube {

class KubeconfigWatcher : public QObject
{
    Q_OBJECT
public:
    // `options` as the client was loaded with (its context is taken from the client).
    KubeconfigWatcher(KubeClient *client, KubeconfigOptions options, QObject *parent = nullptr);

    void setDebounceMs(int ms); // default 300
    QStringList files() const { return m_files; }
    QStringList contexts() const { return m_contexts; }
    QString currentContext() const;
    QString problem() const { return m_problem; } // empty when the client follows the files

    // Switches the client to another context of the files; false and problem() when it cannot.
    bool useContext(const QString &context);
    // Follows other files and context from now on (settings changed): `options` as for the
    // constructor, an empty context for the files' current one. False and problem() when they
    // cannot be used; the client then keeps its last settings.
    bool setOptions(KubeconfigOptions options);
    // Reads the files now (changes are otherwise noticed by themselves).
    void reload();

Q_SIGNALS:
    void contextsChanged();
    // The client now uses other settings (server, user, context or namespace).
    void clientChanged();
    void problemChanged(const QString &problem);

private:
    void watchFiles();
    QByteArray fingerprint() const;
    bool load(const QString &context);
    void setProblem(const QString &problem);

    KubeClient *m_client;
    KubeconfigOptions m_options;
    QFileSystemWatcher *m_watcher;
    QTimer m_debounce;
    QStringList m_files;
    QStringList m_contexts;
    QByteArray m_fingerprint;
    QString m_problem;
};

} // namespace iterdeck::kube
