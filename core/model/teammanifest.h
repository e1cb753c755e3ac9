#pragma once

#include "common/diagnostic.h"
#include "secretref.h"

#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>

namespace iterdeck::model {

// The team manifest, iterdeck.yaml: everything the bot runs on. Field meanings,
// defaults and examples: docs/config/iterdeck-yaml.md.

struct ImSettings
{
    QString adapter = QStringLiteral("none"); // none | feishu | wecom | slack | dingtalk
    QMap<QString, QString> values; // adapter's plain settings (app id, corp id, ...)
    QMap<QString, SecretRef> secrets; // adapter's secrets, by reference
};

struct ClusterSettings
{
    bool inCluster = false;
    QString kubeconfig; // empty: the default kubeconfig search (KUBECONFIG, ~/.kube/config)
    QString context; // empty: the kubeconfig's current-context
};

struct EnvironmentTemplate
{
    QString namespaceTemplate = QStringLiteral("{project}-{iteration}");
    QString domainTemplate; // empty: no domain
    QString valuesClass = QStringLiteral("default"); // which values set of each component applies
    QString create = QStringLiteral("onDemand"); // onStart: when the iteration starts | onDemand: when asked
    qint64 cleanupGraceSeconds = qint64(24) * 3600; // after an iteration ends
};

struct DeploySpec
{
    QString driver = QStringLiteral("helm"); // helm | manifests
    QString chart; // helm: chart reference (oci://, repo/name, or a path)
    QString versionPolicy = QStringLiteral("latest"); // helm: latest | exact version | semver range
    QString manifestsPath; // manifests: folder of YAML in the repository
    QString releaseName; // helm: default the component name
};

struct ComponentSpec
{
    QString name;
    QString repository;
    QString image;
    QString defaultBranch = QStringLiteral("main");
    DeploySpec deploy;
    QMap<QString, QJsonObject> values; // values class -> values
    QString devConfig = QStringLiteral(".nocalhost/config.yaml");
    QString workload; // deploy/NAME or sts/NAME; default deploy/<name>
    SourceLocation where;
};

struct WebhookSource
{
    QString name; // path segment: POST /hooks/<name>
    QString source; // generic | github | gitlab | jira | jenkins | registry | harbor
    SecretRef secret;
    SourceLocation where;
};

struct Person
{
    QString name;
    QString imUserId;
    QStringList collabUsers; // collaboration-tool user names (GitHub login, GitLab user, Jira account)
    QString kubeUser; // Kubernetes identity used for RBAC
    bool admin = false;
    SourceLocation where;
};

struct TeamManifest
{
    int version = 1;
    QString project;
    ImSettings im;
    ClusterSettings cluster;
    EnvironmentTemplate environment;
    QList<ComponentSpec> components;
    QList<WebhookSource> webhooks;
    QList<Person> people;

    const ComponentSpec *component(const QString &name) const;
    // The normalized manifest, every default filled in; secrets appear as references only.
    QJsonObject toJson() const;
};

// Placeholders allowed in environment templates.
QStringList environmentPlaceholders();
// Expands {project}, {iteration} and {component}; unknown placeholders are left as they are.
QString expandTemplate(const QString &tmpl, const QMap<QString, QString> &values);
// Turns a free-form iteration name ("Sprint 42: Payments") into a DNS label ("sprint-42-payments"),
// at most `maxLength` characters.
QString iterationSlug(const QString &name, int maxLength = 30);

} // namespace iterdeck::model
