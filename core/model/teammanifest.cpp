#include "teammanifest.h"

#include <QJsonArray>
#include <QRegularExpression>

namespace iterdeck::model {

const ComponentSpec *TeamManifest::component(const QString &name) const
{
    for (const ComponentSpec &c : components) {
        if (c.name == name)
            return &c;
    }
    return nullptr;
}

static QJsonArray toArray(const QStringList &l)
{
    return QJsonArray::fromStringList(l);
}

QJsonObject TeamManifest::toJson() const
{
    QJsonObject imObj {{QStringLiteral("adapter"), im.adapter}};
    QJsonObject settings;
    for (auto it = im.values.cbegin(); it != im.values.cend(); ++it)
        settings.insert(it.key(), it.value());
    for (auto it = im.secrets.cbegin(); it != im.secrets.cend(); ++it)
        settings.insert(it.key(), it.value().toJson());
    imObj.insert(QStringLiteral("settings"), settings);

    QJsonArray comps;
    for (const ComponentSpec &c : components) {
        QJsonObject deployObj {{QStringLiteral("driver"), c.deploy.driver}};
        if (c.deploy.driver == u"helm") {
            deployObj.insert(QStringLiteral("chart"), c.deploy.chart);
            deployObj.insert(QStringLiteral("version"), c.deploy.versionPolicy);
            deployObj.insert(QStringLiteral("release"), c.deploy.releaseName);
        } else {
            deployObj.insert(QStringLiteral("path"), c.deploy.manifestsPath);
        }
        QJsonObject valuesObj;
        for (auto it = c.values.cbegin(); it != c.values.cend(); ++it)
            valuesObj.insert(it.key(), it.value());
        comps.append(QJsonObject {{QStringLiteral("name"), c.name},
                                  {QStringLiteral("repository"), c.repository},
                                  {QStringLiteral("image"), c.image},
                                  {QStringLiteral("defaultBranch"), c.defaultBranch},
                                  {QStringLiteral("deploy"), deployObj},
                                  {QStringLiteral("values"), valuesObj},
                                  {QStringLiteral("devConfig"), c.devConfig},
                                  {QStringLiteral("workload"), c.workload}});
    }
    QJsonArray hooks;
    for (const WebhookSource &w : webhooks) {
        hooks.append(QJsonObject {{QStringLiteral("name"), w.name},
                                  {QStringLiteral("source"), w.source},
                                  {QStringLiteral("path"), QString(u"/hooks/" + w.name)},
                                  {QStringLiteral("secret"), w.secret.toJson()}});
    }
    QJsonArray ppl;
    for (const Person &p : people) {
        ppl.append(QJsonObject {{QStringLiteral("name"), p.name},
                                {QStringLiteral("im"), p.imUserId},
                                {QStringLiteral("collab"), toArray(p.collabUsers)},
                                {QStringLiteral("kube"), p.kubeUser},
                                {QStringLiteral("admin"), p.admin}});
    }
    return QJsonObject {
        {QStringLiteral("kind"), QStringLiteral("team")},
        {QStringLiteral("version"), version},
        {QStringLiteral("project"), project},
        {QStringLiteral("im"), imObj},
        {QStringLiteral("cluster"),
         QJsonObject {{QStringLiteral("inCluster"), cluster.inCluster},
                      {QStringLiteral("kubeconfig"), cluster.kubeconfig},
                      {QStringLiteral("context"), cluster.context}}},
        {QStringLiteral("environment"),
         QJsonObject {{QStringLiteral("namespace"), environment.namespaceTemplate},
                      {QStringLiteral("domain"), environment.domainTemplate},
                      {QStringLiteral("valuesClass"), environment.valuesClass},
                      {QStringLiteral("create"), environment.create},
                      {QStringLiteral("cleanupGracePeriodSeconds"), double(environment.cleanupGraceSeconds)}}},
        {QStringLiteral("components"), comps},
        {QStringLiteral("webhooks"), hooks},
        {QStringLiteral("people"), ppl},
    };
}

QStringList environmentPlaceholders()
{
    return {QStringLiteral("project"), QStringLiteral("iteration"), QStringLiteral("component")};
}

QString expandTemplate(const QString &tmpl, const QMap<QString, QString> &values)
{
    QString out;
    out.reserve(tmpl.size() * 2);
    qsizetype i = 0;
    while (i < tmpl.size()) {
        if (tmpl[i] == u'{') {
            const qsizetype close = tmpl.indexOf(u'}', i + 1);
            if (close > i) {
                const QString name = tmpl.mid(i + 1, close - i - 1);
                auto it = values.constFind(name);
                if (it != values.cend()) {
                    out += *it;
                    i = close + 1;
                    continue;
                }
            }
        }
        out += tmpl[i];
        ++i;
    }
    return out;
}

QString iterationSlug(const QString &name, int maxLength)
{
    QString s;
    bool dash = false;
    for (QChar c : name.normalized(QString::NormalizationForm_KD)) {
        const QChar l = c.toLower();
        if ((l >= u'a' && l <= u'z') || (l >= u'0' && l <= u'9')) {
            if (dash && !s.isEmpty())
                s += u'-';
            s += l;
            dash = false;
        } else if (!c.isMark()) {
            dash = true;
        }
    }
    s.truncate(maxLength);
    while (s.endsWith(u'-'))
        s.chop(1);
    return s.isEmpty() ? QStringLiteral("iteration") : s;
}

} // namespace iterdeck::model
