#include "deploycarddialog.h"

#include "chatops/eventtext.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QGridLayout>
#include <QJsonArray>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace iterdeck::app {

using namespace iterdeck::chatops;

namespace {

QString buildLabel(const model::Artifact &a)
{
    return chatops::buildLabel(a, true);
}

} // namespace

DeployCardDialog::DeployCardDialog(BotClient *client, StreamState *state, qint64 environmentId, QWidget *parent)
    : QDialog(parent)
    , m_client(client)
    , m_state(state)
    , m_environmentId(environmentId)
    , m_grid(new QGridLayout)
    , m_header(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_result(new QLabel(this))
    , m_buttons(new QDialogButtonBox(QDialogButtonBox::Cancel, this))
{
    setWindowTitle(tr("Deploy"));
    setObjectName(QStringLiteral("deployCard"));
    setWindowRole(QStringLiteral("iterdeck-deploy-card"));
    setMinimumWidth(820);
    m_header->setText(tr("Loading the deploy card…"));
    m_header->setWordWrap(true);
    m_summary->setWordWrap(true);
    m_result->setWordWrap(true);
    auto *confirm = m_buttons->addButton(tr("Deploy"), QDialogButtonBox::AcceptRole);
    confirm->setObjectName(QStringLiteral("confirm"));
    confirm->setDefault(true); // Enter deploys once something changes
    confirm->setEnabled(false);
    connect(confirm, &QPushButton::clicked, this, &DeployCardDialog::confirm);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_header);
    layout->addLayout(m_grid);
    layout->addWidget(m_summary);
    layout->addWidget(m_result);
    layout->addWidget(m_buttons);
    if (m_state)
        connect(m_state, &StreamState::changed, this, &DeployCardDialog::onStateChanged);
    load();
}

QPushButton *DeployCardDialog::confirmButton() const
{
    return m_buttons->findChild<QPushButton *>(QStringLiteral("confirm"));
}

DeployCardDialog::Row *DeployCardDialog::row(const QString &component)
{
    for (Row &r : m_rows) {
        if (r.component == component)
            return &r;
    }
    return nullptr;
}

const DeployCardDialog::Row *DeployCardDialog::row(const QString &component) const
{
    for (const Row &r : m_rows) {
        if (r.component == component)
            return &r;
    }
    return nullptr;
}

QComboBox *DeployCardDialog::branchBox(const QString &component) const
{
    const Row *r = row(component);
    return r ? r->branch : nullptr;
}

QComboBox *DeployCardDialog::buildBox(const QString &component) const
{
    const Row *r = row(component);
    return r ? r->build : nullptr;
}

QCheckBox *DeployCardDialog::followBox(const QString &component) const
{
    const Row *r = row(component);
    return r ? r->follow : nullptr;
}

QLabel *DeployCardDialog::statusLabel(const QString &component) const
{
    const Row *r = row(component);
    return r ? r->status : nullptr;
}

QString DeployCardDialog::summary() const
{
    return m_summary->text();
}

void DeployCardDialog::load()
{
    if (!m_client)
        return;
    m_client->request(QLatin1String(method::DeployCard), {{QStringLiteral("environment"), m_environmentId}}, this,
                      [this](const BotClient::Result &r) {
                          if (!r) {
                              m_header->setText(tr("The deploy card could not be loaded: %1").arg(r.error().message));
                              return;
                          }
                          fill(*r);
                      });
}

void DeployCardDialog::fill(const QJsonObject &card)
{
    setWindowTitle(tr("Deploy — %1").arg(card.value(u"namespace").toString()));
    m_header->setText(tr("<b>%1</b> — choose what each component runs. Following a branch deploys its new builds "
                         "as they come; a pinned build stays.")
                          .arg(card.value(u"namespace").toString().toHtmlEscaped()));
    m_grid->addWidget(new QLabel(tr("<b>Component</b>"), this), 0, 0);
    m_grid->addWidget(new QLabel(tr("<b>Branch</b>"), this), 0, 1);
    m_grid->addWidget(new QLabel(tr("<b>Build</b>"), this), 0, 2);
    m_grid->addWidget(new QLabel(tr("<b>Follow new builds</b>"), this), 0, 3);
    m_grid->addWidget(new QLabel(tr("<b>Status</b>"), this), 0, 4);
    int line = 1;
    for (const QJsonValue &cv : card.value(u"components").toArray()) {
        const QJsonObject c = cv.toObject();
        Row r;
        r.component = c.value(u"name").toString();
        r.current.branch = c.value(u"selectedBranch").toString();
        r.current.follow = c.value(u"mode").toString() != u"pin";
        r.current.artifactId = r.current.follow ? 0 : c.value(u"pinned").toInteger();
        r.branch = new QComboBox(this);
        r.build = new QComboBox(this);
        r.follow = new QCheckBox(this);
        r.status = new QLabel(this);
        r.branch->setObjectName(QStringLiteral("branch-") + r.component);
        r.branch->setSizeAdjustPolicy(QComboBox::AdjustToContents);
        r.build->setSizeAdjustPolicy(QComboBox::AdjustToContents);
        r.build->setMinimumContentsLength(14);
        r.build->setObjectName(QStringLiteral("build-") + r.component);
        r.follow->setObjectName(QStringLiteral("follow-") + r.component);
        for (const QJsonValue &bv : c.value(u"branches").toArray()) {
            const QJsonObject b = bv.toObject();
            const auto latest = model::Artifact::fromJson(b.value(u"latest").toObject());
            const QString name = b.value(u"name").toString();
            r.branch->addItem(latest.id ? QStringLiteral("%1 — %2").arg(name, buildLabel(latest)) : name, name);
        }
        if (r.branch->findData(r.current.branch) < 0 && !r.current.branch.isEmpty())
            r.branch->addItem(tr("%1 — no builds yet").arg(r.current.branch), r.current.branch);
        r.branch->setCurrentIndex(std::max(0, r.branch->findData(r.current.branch)));
        r.follow->setChecked(r.current.follow);
        r.build->setEnabled(!r.current.follow);
        r.status->setText(c.value(u"status").toString());
        m_grid->addWidget(new QLabel(r.component, this), line, 0);
        m_grid->addWidget(r.branch, line, 1);
        m_grid->addWidget(r.build, line, 2);
        m_grid->addWidget(r.follow, line, 3, Qt::AlignCenter);
        m_grid->addWidget(r.status, line, 4);
        ++line;
        const QString component = r.component;
        m_rows.append(r);
        connect(r.branch, &QComboBox::currentIndexChanged, this, [this, component] {
            if (Row *x = row(component))
                loadBuilds(*x);
            updateSummary();
        });
        connect(r.build, &QComboBox::currentIndexChanged, this, &DeployCardDialog::updateSummary);
        connect(r.follow, &QCheckBox::toggled, this, [this, component](bool on) {
            if (Row *x = row(component))
                x->build->setEnabled(!on);
            updateSummary();
        });
    }
    for (Row &r : m_rows)
        loadBuilds(r);
    if (!m_rows.isEmpty())
        m_rows.first().branch->setFocus(); // the keyboard starts at the first choice
    m_loaded = true;
    updateSummary();
    onStateChanged();
    Q_EMIT loaded();
}

void DeployCardDialog::loadBuilds(Row &r)
{
    const QString branch = r.branch->currentData().toString();
    if (branch.isEmpty() || r.loadedBuildsFor == branch)
        return;
    r.loadedBuildsFor = branch;
    r.build->clear();
    const QString component = r.component;
    m_client->request(
        QLatin1String(method::Artifacts),
        {{QStringLiteral("component"), component}, {QStringLiteral("branch"), branch}, {QStringLiteral("limit"), 30}},
        this, [this, component, branch](const BotClient::Result &res) {
            Row *x = row(component);
            if (!x || x->loadedBuildsFor != branch)
                return;
            const QSignalBlocker block(x->build);
            x->build->clear();
            if (!res) {
                x->build->addItem(tr("(builds unavailable: %1)").arg(res.error().message), 0);
                return;
            }
            for (const QJsonValue &v : res->value(u"artifacts").toArray()) {
                const auto a = model::Artifact::fromJson(v.toObject());
                x->build->addItem(buildLabel(a), a.id);
            }
            if (x->current.artifactId)
                x->build->setCurrentIndex(std::max(0, x->build->findData(x->current.artifactId)));
            updateSummary();
        });
}

DeployCardDialog::Choice DeployCardDialog::choiceOf(const Row &r) const
{
    Choice c;
    c.branch = r.branch->currentData().toString();
    c.follow = r.follow->isChecked();
    c.artifactId = c.follow ? 0 : r.build->currentData().toLongLong();
    return c;
}

void DeployCardDialog::updateSummary()
{
    QStringList changes;
    for (const Row &r : std::as_const(m_rows)) {
        const Choice now = choiceOf(r);
        if (now == r.current)
            continue;
        if (now.follow) {
            changes << tr("%1: follow %2 (its latest build now, new builds as they come)").arg(r.component, now.branch);
        } else if (now.artifactId) {
            changes << tr("%1: pin build %2 of %3").arg(r.component, r.build->currentText(), now.branch);
        }
    }
    if (changes.isEmpty()) {
        m_summary->setText(m_loaded ? tr("Nothing changes yet.") : QString());
    } else {
        m_summary->setText(tr("Will change:\n") + changes.join(u'\n'));
    }
    if (QPushButton *b = confirmButton())
        b->setEnabled(!changes.isEmpty() && m_confirmedAtSeq < 0);
}

void DeployCardDialog::confirm()
{
    if (!m_client || !m_state)
        return;
    QList<QPair<QString, QJsonObject>> requests;
    for (const Row &r : std::as_const(m_rows)) {
        const Choice now = choiceOf(r);
        if (now == r.current || (!now.follow && !now.artifactId))
            continue;
        QJsonObject p {{QStringLiteral("environment"), m_environmentId}, {QStringLiteral("component"), r.component}};
        if (now.follow)
            p.insert(QStringLiteral("follow"), now.branch);
        else
            p.insert(QStringLiteral("pin"), now.artifactId);
        requests.append({r.component, p});
    }
    if (requests.isEmpty())
        return;
    m_confirmedAtSeq = m_state->seq();
    confirmButton()->setEnabled(false);
    m_result->setText(tr("Sending…"));
    auto left = std::make_shared<int>(int(requests.size()));
    auto failures = std::make_shared<QStringList>();
    for (const auto &[component, params] : std::as_const(requests)) {
        if (Row *x = row(component))
            x->status->setText(tr("queued"));
        const QString name = component;
        m_client->request(QLatin1String(method::Select), params, this,
                          [this, name, left, failures](const BotClient::Result &r) {
                              if (!r) {
                                  failures->append(QStringLiteral("%1: %2").arg(name, r.error().message));
                                  if (Row *x = row(name))
                                      x->status->setText(tr("refused"));
                              } else if (Row *x = row(name)) {
                                  x->current = choiceOf(*x);
                              }
                              if (--*left > 0)
                                  return;
                              if (failures->isEmpty()) {
                                  m_result->setText(tr("Accepted; deploying. You can close this card."));
                                  Q_EMIT applied();
                              } else {
                                  m_result->setText(tr("Refused:\n") + failures->join(u'\n'));
                              }
                              m_buttons->button(QDialogButtonBox::Cancel)->setText(tr("Close"));
                          });
    }
}

void DeployCardDialog::onStateChanged()
{
    if (!m_state)
        return;
    for (Row &r : m_rows) {
        const auto d = m_state->deployment(m_environmentId, r.component);
        if (!d || (m_confirmedAtSeq >= 0 && d->seq <= m_confirmedAtSeq && r.status->text() == tr("queued")))
            continue;
        const QString build = buildLabel(d->artifact);
        if (d->state == u"started")
            r.status->setText(tr("deploying %1…").arg(build));
        else if (d->state == u"succeeded")
            r.status->setText(tr("✓ %1").arg(build));
        else if (d->state == u"failed")
            r.status->setText(tr("✗ failed: %1").arg(d->message.section(u'\n', 0, 0)));
        else if (d->state == u"waiting")
            r.status->setText(tr("waiting for a build"));
    }
}

} // namespace iterdeck::app
