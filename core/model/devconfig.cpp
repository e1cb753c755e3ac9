#include "devconfig.h"

#include <QJsonArray>

namespace iterdeck::model {

const ContainerConfig *ServiceConfig::container(const QString &name) const
{
    for (const ContainerConfig &c : containers) {
        if (name.isEmpty() || c.name == name)
            return &c;
    }
    // As Nocalhost: an unmatched name falls back to the first container (v1 configs have one unnamed).
    return containers.isEmpty() ? nullptr : &containers.first();
}

const ServiceConfig *DevConfig::service(const QString &name) const
{
    for (const ServiceConfig &s : services) {
        if (s.name == name)
            return &s;
    }
    return nullptr;
}

QString formName(DevConfig::Form form)
{
    switch (form) {
    case DevConfig::Form::SingleService:
        return QStringLiteral("service");
    case DevConfig::Form::Application:
        return QStringLiteral("application-v2");
    case DevConfig::Form::ApplicationV1:
        return QStringLiteral("application-v1");
    }
    return {};
}

namespace {

QJsonArray strings(const QStringList &l)
{
    return QJsonArray::fromStringList(l);
}

QJsonArray envJson(const QList<EnvVar> &env)
{
    QJsonArray a;
    for (const EnvVar &e : env)
        a.append(QJsonObject {{QStringLiteral("name"), e.name}, {QStringLiteral("value"), e.value}});
    return a;
}

QJsonArray hooksJson(const QList<HookItem> &hooks)
{
    QJsonArray a;
    for (const HookItem &h : hooks) {
        a.append(QJsonObject {
            {QStringLiteral("path"), h.path}, {QStringLiteral("name"), h.name}, {QStringLiteral("weight"), h.weight}});
    }
    return a;
}

QJsonObject quantities(const ResourceQuantities &q)
{
    return {{QStringLiteral("cpu"), q.cpu}, {QStringLiteral("memory"), q.memory}};
}

QJsonObject devJson(const ContainerDevConfig &d)
{
    QJsonArray pvs;
    for (const PersistentVolumeDir &p : d.persistentVolumeDirs) {
        pvs.append(QJsonObject {{QStringLiteral("path"), p.path},
                                {QStringLiteral("capacity"), p.capacity},
                                {QStringLiteral("waitForFirstConsumer"), p.waitForFirstConsumer}});
    }
    QJsonArray patches;
    for (const DevPatch &p : d.patches)
        patches.append(QJsonObject {{QStringLiteral("type"), p.type}, {QStringLiteral("patch"), p.patch}});
    return {
        {QStringLiteral("gitUrl"), d.gitUrl},
        {QStringLiteral("image"), d.image},
        {QStringLiteral("imagePullPolicy"), d.imagePullPolicy},
        {QStringLiteral("shell"), d.shell},
        {QStringLiteral("workDir"), d.workDir},
        {QStringLiteral("storageClass"), d.storageClass},
        {QStringLiteral("devContainerName"), d.devContainerName},
        {QStringLiteral("resources"),
         QJsonObject {{QStringLiteral("limits"), quantities(d.limits)},
                      {QStringLiteral("requests"), quantities(d.requests)}}},
        {QStringLiteral("persistentVolumeDirs"), pvs},
        {QStringLiteral("command"),
         QJsonObject {{QStringLiteral("build"), strings(d.command.build)},
                      {QStringLiteral("run"), strings(d.command.run)},
                      {QStringLiteral("debug"), strings(d.command.debug)},
                      {QStringLiteral("hotReloadRun"), strings(d.command.hotReloadRun)},
                      {QStringLiteral("hotReloadDebug"), strings(d.command.hotReloadDebug)}}},
        {QStringLiteral("debug"),
         QJsonObject {{QStringLiteral("remoteDebugPort"), d.remoteDebugPort},
                      {QStringLiteral("language"), d.debugLanguage}}},
        {QStringLiteral("hotReload"), d.hotReload},
        {QStringLiteral("useDevContainer"), d.useDevContainer},
        {QStringLiteral("sync"),
         QJsonObject {{QStringLiteral("type"), d.sync.type},
                      {QStringLiteral("mode"), d.sync.mode},
                      {QStringLiteral("deleteProtection"), d.sync.deleteProtection},
                      {QStringLiteral("filePattern"), strings(d.sync.filePattern)},
                      {QStringLiteral("ignoreFilePattern"), strings(d.sync.ignoreFilePattern)}}},
        {QStringLiteral("env"), envJson(d.env)},
        {QStringLiteral("envFrom"), QJsonObject {{QStringLiteral("envFile"), strings(d.envFiles)}}},
        {QStringLiteral("portForward"), strings(d.portForward)},
        {QStringLiteral("sidecarImage"), d.sidecarImage},
        {QStringLiteral("patches"), patches},
        {QStringLiteral("iterdeck"),
         QJsonObject {{QStringLiteral("mode"), d.iterdeck.mode}, {QStringLiteral("syncGit"), d.iterdeck.syncGit}}},
    };
}

QJsonObject serviceJson(const ServiceConfig &s)
{
    QJsonArray containers;
    for (const ContainerConfig &c : s.containers) {
        QJsonObject co {{QStringLiteral("name"), c.name}};
        if (!c.hubImage.isEmpty())
            co.insert(QStringLiteral("hub"), QJsonObject {{QStringLiteral("image"), c.hubImage}});
        co.insert(QStringLiteral("install"),
                  QJsonObject {{QStringLiteral("env"), envJson(c.installEnv)},
                               {QStringLiteral("envFrom"),
                                QJsonObject {{QStringLiteral("envFile"), strings(c.installEnvFiles)}}},
                               {QStringLiteral("portForward"), strings(c.installPortForward)}});
        if (c.hasDev)
            co.insert(QStringLiteral("dev"), devJson(c.dev));
        containers.append(co);
    }
    return {
        {QStringLiteral("name"), s.name},
        {QStringLiteral("serviceType"), s.serviceType},
        {QStringLiteral("priorityClass"), s.priorityClass},
        {QStringLiteral("dependLabelSelector"),
         QJsonObject {{QStringLiteral("pods"), strings(s.depend.pods)},
                      {QStringLiteral("jobs"), strings(s.depend.jobs)},
                      {QStringLiteral("tcp"), strings(s.depend.tcp)},
                      {QStringLiteral("http"), strings(s.depend.http)}}},
        {QStringLiteral("containers"), containers},
    };
}

} // namespace

QJsonObject DevConfig::toJson() const
{
    QJsonArray svcs;
    for (const ServiceConfig &s : services)
        svcs.append(serviceJson(s));
    QJsonObject out {{QStringLiteral("kind"), QStringLiteral("dev")},
                     {QStringLiteral("form"), formName(form)},
                     {QStringLiteral("services"), svcs}};
    if (!envFile.isEmpty())
        out.insert(QStringLiteral("envFile"), envFile);
    if (hasApplication) {
        const ApplicationConfig &a = application;
        out.insert(
            QStringLiteral("application"),
            QJsonObject {{QStringLiteral("name"), a.name},
                         {QStringLiteral("manifestType"), a.manifestType},
                         {QStringLiteral("resourcePath"), strings(a.resourcePath)},
                         {QStringLiteral("ignoredPath"), strings(a.ignoredPath)},
                         {QStringLiteral("onPreInstall"), hooksJson(a.onPreInstall)},
                         {QStringLiteral("onPostInstall"), hooksJson(a.onPostInstall)},
                         {QStringLiteral("onPreUpgrade"), hooksJson(a.onPreUpgrade)},
                         {QStringLiteral("onPostUpgrade"), hooksJson(a.onPostUpgrade)},
                         {QStringLiteral("onPreDelete"), hooksJson(a.onPreDelete)},
                         {QStringLiteral("onPostDelete"), hooksJson(a.onPostDelete)},
                         {QStringLiteral("helmValues"), envJson(a.helmValues)},
                         {QStringLiteral("helmVals"), a.helmVals},
                         {QStringLiteral("helmVersion"), a.helmVersion},
                         {QStringLiteral("env"), envJson(a.env)},
                         {QStringLiteral("envFrom"), QJsonObject {{QStringLiteral("envFile"), strings(a.envFiles)}}}});
    }
    return out;
}

} // namespace iterdeck::model
