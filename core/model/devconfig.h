#pragma once

#include "common/diagnostic.h"

#include <QJsonObject>
#include <QList>
#include <QString>
#include <QStringList>

namespace iterdeck::model {

// A Nocalhost-compatible dev config (.nocalhost/config.yaml), normalized to the v2
// shape whatever form it was written in. Defaults are Nocalhost's own; Iterdeck's
// additions live under `dev.iterdeck`. Reference: docs/config/dev-config.md.

struct EnvVar
{
    QString name;
    QString value;
};

struct SyncConfig
{
    QString type = QStringLiteral("send"); // send | sendReceive (two-way)
    QString mode = QStringLiteral("pattern"); // pattern | gitIgnore
    bool deleteProtection = true;
    QStringList filePattern;
    QStringList ignoreFilePattern;
    bool twoWay() const { return type == u"sendReceive"; }
};

struct DevCommands
{
    QStringList build, run, debug, hotReloadRun, hotReloadDebug;
};

struct ResourceQuantities
{
    QString cpu, memory;
};

struct PersistentVolumeDir
{
    QString path;
    QString capacity = QStringLiteral("10Gi");
    bool waitForFirstConsumer = false;
};

struct DevPatch
{
    QString type = QStringLiteral("strategic"); // json | merge | strategic
    QString patch;
};

struct IterdeckDevOptions
{
    QString mode = QStringLiteral("replace"); // replace | duplicate
    bool syncGit = false; // sync the .git folder too
};

struct ContainerDevConfig
{
    QString gitUrl;
    QString image;
    QString imagePullPolicy;
    QString shell;
    QString workDir = QStringLiteral("/home/nocalhost-dev");
    QString storageClass;
    QString devContainerName;
    ResourceQuantities limits, requests;
    QList<PersistentVolumeDir> persistentVolumeDirs;
    DevCommands command;
    int remoteDebugPort = 0;
    QString debugLanguage;
    bool hotReload = false;
    bool useDevContainer = false;
    bool hasSync = false;
    SyncConfig sync;
    QList<EnvVar> env;
    QStringList envFiles;
    QStringList portForward;
    QString sidecarImage;
    QList<DevPatch> patches;
    IterdeckDevOptions iterdeck;
};

struct ContainerConfig
{
    QString name;
    QString hubImage;
    QList<EnvVar> installEnv;
    QStringList installEnvFiles;
    QStringList installPortForward;
    bool hasDev = false;
    ContainerDevConfig dev;
    SourceLocation where;
};

struct DependLabelSelector
{
    QStringList pods, jobs, tcp, http;
};

struct ServiceConfig
{
    QString name;
    QString serviceType = QStringLiteral("deployment");
    QString priorityClass;
    DependLabelSelector depend;
    QList<ContainerConfig> containers;
    SourceLocation where;

    // The container that dev mode targets: by name, else the first one (Nocalhost's fallback).
    const ContainerConfig *container(const QString &name = {}) const;
};

struct HookItem
{
    QString path;
    QString name;
    QString weight;
};

struct ApplicationConfig
{
    QString name;
    QString manifestType;
    QStringList resourcePath;
    QStringList ignoredPath;
    QList<HookItem> onPreInstall, onPostInstall, onPreUpgrade, onPostUpgrade, onPreDelete, onPostDelete;
    QList<EnvVar> helmValues;
    QJsonObject helmVals;
    QString helmVersion;
    QList<EnvVar> env;
    QStringList envFiles;
};

struct DevConfig
{
    enum class Form {
        SingleService, // {name, serviceType, containers}, possibly several documents
        Application, // configProperties.version v2 + application
        ApplicationV1, // name + manifestType + flat services (converted)
    };
    Form form = Form::SingleService;
    QString envFile; // configProperties.envFile, resolved against the config's folder
    bool hasApplication = false;
    ApplicationConfig application;
    QList<ServiceConfig> services;

    const ServiceConfig *service(const QString &name) const;
    QJsonObject toJson() const;
};

QString formName(DevConfig::Form form);

} // namespace iterdeck::model
