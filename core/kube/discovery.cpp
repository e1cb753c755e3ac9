#include "discovery.h"

#include <QJsonArray>
#include <QPointer>

#include <memory>

namespace iterdeck::kube {

Discovery::Discovery(KubeClient *client, QObject *parent)
    : QObject(parent)
    , m_client(client)
{ }

void Discovery::addResourceList(const QJsonObject &list)
{
    const QString gv = list.value(QLatin1String("groupVersion")).toString();
    const qsizetype slash = gv.indexOf(QLatin1Char('/'));
    const QString group = slash < 0 ? QString() : gv.left(slash);
    const QString version = slash < 0 ? gv : gv.mid(slash + 1);
    const QJsonArray resources = list.value(QLatin1String("resources")).toArray();
    for (const QJsonValue &v : resources) {
        const QJsonObject r = v.toObject();
        const QString name = r.value(QLatin1String("name")).toString();
        if (name.isEmpty() || name.contains(QLatin1Char('/')))
            continue; // subresources
        DiscoveredResource d;
        d.ref = {group, version, name, r.value(QLatin1String("kind")).toString(),
                 r.value(QLatin1String("namespaced")).toBool()};
        d.singular = r.value(QLatin1String("singularName")).toString();
        if (d.singular.isEmpty())
            d.singular = d.ref.kind.toLower();
        for (const QJsonValue &s : r.value(QLatin1String("shortNames")).toArray())
            d.shortNames.append(s.toString());
        for (const QJsonValue &s : r.value(QLatin1String("verbs")).toArray())
            d.verbs.append(s.toString());
        for (const QJsonValue &s : r.value(QLatin1String("categories")).toArray())
            d.categories.append(s.toString());
        m_resources.append(d);
    }
}

void Discovery::refresh(std::function<void(const KubeError &)> done)
{
    m_resources.clear();
    m_loaded = false;
    struct State
    {
        int pending = 0;
        int answered = 0;
        KubeError lastError;
        std::function<void(const KubeError &)> done;
    };
    auto state = std::make_shared<State>();
    state->done = std::move(done);
    QPointer<Discovery> self(this);
    auto finishOne = [self, state](const KubeError &e) {
        if (e.isError())
            state->lastError = e;
        else
            ++state->answered;
        if (--state->pending > 0 || !self)
            return;
        self->m_loaded = state->answered > 0;
        state->done(state->answered > 0 ? KubeError {} : state->lastError);
    };
    auto fetchList = [this, state, finishOne](const QString &path) {
        ++state->pending;
        KubeRequest r;
        r.path = path;
        KubeCall *call = m_client->send(r);
        connect(call, &KubeCall::finished, this, [this, call, finishOne] {
            auto obj = call->object();
            if (obj)
                addResourceList(*obj);
            finishOne(obj ? KubeError {} : obj.error());
        });
    };
    // One pending count for the /apis walk so that /api/v1 finishing first does not end it.
    ++state->pending;
    fetchList(QStringLiteral("/api/v1"));
    KubeRequest groups;
    groups.path = QStringLiteral("/apis");
    KubeCall *call = m_client->send(groups);
    connect(call, &KubeCall::finished, this, [call, fetchList, finishOne] {
        auto obj = call->object();
        if (obj) {
            const QJsonArray gs = obj->value(QLatin1String("groups")).toArray();
            for (const QJsonValue &g : gs) {
                const QString gv = g.toObject()
                                       .value(QLatin1String("preferredVersion"))
                                       .toObject()
                                       .value(QLatin1String("groupVersion"))
                                       .toString();
                if (!gv.isEmpty())
                    fetchList(QStringLiteral("/apis/") + gv);
            }
        }
        // /apis itself counts as answered only through its group lists.
        if (!obj)
            finishOne(obj.error());
        else
            finishOne(KubeError::make(KubeError::Kind::None, {}));
    });
}

std::optional<ResourceRef> Discovery::resolve(const QString &input) const
{
    QString name = input.toLower();
    QString group;
    bool groupGiven = false;
    if (const qsizetype dot = name.indexOf(QLatin1Char('.')); dot > 0) {
        group = name.mid(dot + 1);
        name = name.left(dot);
        groupGiven = true;
    }
    auto matches = [&](const DiscoveredResource &d) {
        if (groupGiven) {
            const QString g = d.ref.group.toLower();
            const QString vg = d.ref.version.toLower() + QLatin1Char('.') + g;
            if (group != g && group != vg)
                return false;
        }
        return d.ref.resource == name || d.singular == name || d.ref.kind.toLower() == name
            || d.shortNames.contains(name, Qt::CaseInsensitive);
    };
    // The core group first, then the others in discovery order, as kubectl's priority does.
    for (const DiscoveredResource &d : m_resources) {
        if (d.ref.group.isEmpty() && matches(d))
            return d.ref;
    }
    for (const DiscoveredResource &d : m_resources) {
        if (matches(d))
            return d.ref;
    }
    return std::nullopt;
}

std::optional<ResourceRef> Discovery::forKind(const QString &apiVersion, const QString &kind) const
{
    for (const DiscoveredResource &d : m_resources) {
        if (d.ref.groupVersion() == apiVersion && d.ref.kind == kind)
            return d.ref;
    }
    return std::nullopt;
}

} // namespace iterdeck::kube
