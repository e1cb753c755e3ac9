#include "portforwardspanel.h"

#include "devcontroller.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

namespace iterdeck::app {

using namespace iterdeck::devmode;
using kube::PortForwarder;

namespace {

constexpr int SpecRole = Qt::UserRole + 1;
constexpr int RemovableRole = Qt::UserRole + 2;

QString forwardText(const DevSession::Forward &f)
{
    const QString origin = f.fromConfig ? PortForwardsPanel::tr("dev config") : PortForwardsPanel::tr("added by you");
    if (!f.problem.isEmpty())
        return PortForwardsPanel::tr("%1 → %2 (%3): %4").arg(f.spec).arg(f.remotePort).arg(origin, f.problem);
    if (!f.localPort)
        return PortForwardsPanel::tr("%1 → %2 (%3): starting").arg(f.spec).arg(f.remotePort).arg(origin);
    QString state;
    switch (f.state) {
    case PortForwarder::State::Listening:
        break;
    case PortForwarder::State::Reconnecting:
        state = PortForwardsPanel::tr(", following the pod");
        break;
    default:
        state = PortForwardsPanel::tr(", waiting for a pod");
        break;
    }
    return PortForwardsPanel::tr("127.0.0.1:%1 → %2 (%3%4)").arg(f.localPort).arg(f.remotePort).arg(origin, state);
}

} // namespace

PortForwardsPanel::PortForwardsPanel(DevController *dev, QWidget *parent)
    : QWidget(parent)
    , m_dev(dev)
    , m_title(new QLabel(this))
    , m_list(new QListWidget(this))
    , m_local(new QSpinBox(this))
    , m_remote(new QSpinBox(this))
    , m_add(new QPushButton(tr("Add"), this))
    , m_remove(new QPushButton(tr("Remove"), this))
    , m_error(new QLabel(this))
{
    setObjectName(QStringLiteral("portForwards"));
    m_list->setObjectName(QStringLiteral("forwards"));
    m_local->setObjectName(QStringLiteral("forwardLocal"));
    m_remote->setObjectName(QStringLiteral("forwardRemote"));
    m_add->setObjectName(QStringLiteral("addForward"));
    m_remove->setObjectName(QStringLiteral("removeForward"));
    m_error->setObjectName(QStringLiteral("forwardError"));

    m_local->setRange(0, 65535);
    m_local->setSpecialValueText(tr("any free port"));
    m_local->setToolTip(tr("The port on this computer (127.0.0.1); \"any free port\" lets the system pick one"));
    m_remote->setRange(1, 65535);
    m_remote->setValue(8080);
    m_remote->setToolTip(tr("The port in the container"));
    m_remove->setToolTip(tr("Stop the selected forward and forget it (forwards of the dev config stay)"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b3261e; }"));
    m_error->hide();

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_title);
    layout->addWidget(m_list);
    auto *row = new QHBoxLayout;
    row->addWidget(new QLabel(tr("Local port:"), this));
    row->addWidget(m_local);
    row->addWidget(new QLabel(tr("Container port:"), this));
    row->addWidget(m_remote);
    row->addWidget(m_add);
    row->addStretch(1);
    row->addWidget(m_remove);
    layout->addLayout(row);
    layout->addWidget(m_error);

    connect(m_add, &QPushButton::clicked, this, [this] { addFromFields(); });
    connect(m_remove, &QPushButton::clicked, this, &PortForwardsPanel::removeSelected);
    connect(m_list, &QListWidget::currentRowChanged, this, &PortForwardsPanel::updateButtons);
    connect(m_dev, &DevController::statusChanged, this, [this](const QString &key) {
        if (!m_ref.name.isEmpty() && key == workloadKey(m_ns, m_ref))
            refresh();
    });
    refresh();
}

void PortForwardsPanel::setWorkload(const QString &ns, const WorkloadRef &ref, const QString &selector)
{
    const bool same = ns == m_ns && ref.shortName() == m_ref.shortName();
    m_ns = ns;
    m_ref = ref;
    m_selector = selector;
    if (!same)
        showError({});
    refresh();
}

void PortForwardsPanel::refresh()
{
    const DevController::Status st
        = m_ref.name.isEmpty() ? DevController::Status() : m_dev->status(workloadKey(m_ns, m_ref));
    const bool running = st.state == DevController::State::On || st.state == DevController::State::Reconnecting;
    // Not while dev mode comes or goes: the forwards move between the pods then.
    const bool changing = st.state == DevController::State::Starting || st.state == DevController::State::Ending;
    const bool available = !m_ref.name.isEmpty() && !changing && (running || !m_selector.isEmpty());
    setEnabled(available);
    if (available != m_available) {
        m_available = available;
        Q_EMIT availableChanged(available);
    }
    if (!available) {
        m_list->clear();
        m_title->setText(changing ? tr("Port-forwards move to the new pod once dev mode has started or ended.")
                                  : tr("Select a running workload to forward its ports."));
        return;
    }
    m_title->setText(running ? tr("Port-forwards of %1 (to its dev pod)").arg(m_ref.shortName())
                             : tr("Port-forwards of %1 (to its pods)").arg(m_ref.shortName()));
    const QString selected = m_list->currentItem() ? m_list->currentItem()->data(SpecRole).toString() : QString();
    m_list->clear();
    for (const DevSession::Forward &f : st.forwards) {
        auto *item = new QListWidgetItem(forwardText(f), m_list);
        item->setData(SpecRole, f.spec);
        item->setData(RemovableRole, !f.fromConfig);
        if (!f.fromConfig && f.spec == selected)
            m_list->setCurrentItem(item);
    }
    if (st.forwards.isEmpty())
        new QListWidgetItem(tr("No port-forwards yet"), m_list);
    updateButtons();
}

void PortForwardsPanel::updateButtons()
{
    const QListWidgetItem *item = m_list->currentItem();
    m_remove->setEnabled(item && item->data(RemovableRole).toBool());
}

void PortForwardsPanel::showError(const QString &text)
{
    m_error->setText(text);
    m_error->setVisible(!text.isEmpty());
}

bool PortForwardsPanel::addFromFields()
{
    const QString spec = QStringLiteral("%1:%2")
                             .arg(m_local->value() ? QString::number(m_local->value()) : QString())
                             .arg(m_remote->value());
    const auto port = m_dev->addPortForward(m_ns, m_ref, spec, m_selector);
    if (!port) {
        showError(tr("Could not forward %1: %2").arg(spec, port.error()));
        return false;
    }
    showError({});
    return true;
}

void PortForwardsPanel::removeSelected()
{
    const QListWidgetItem *item = m_list->currentItem();
    if (!item || !item->data(RemovableRole).toBool())
        return;
    m_dev->removePortForward(m_ns, m_ref, item->data(SpecRole).toString());
    showError({});
}

} // namespace iterdeck::app
