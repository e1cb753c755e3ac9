#include "trayicon.h"

#include <QAction>
#include <QMenu>

namespace iterdeck::app {

TrayIcon::TrayIcon(QObject *parent)
    : QObject(parent)
    , m_tray(new QSystemTrayIcon(this))
    , m_menu(new QMenu)
    , m_devMenu(new QMenu(tr("Dev mode"), m_menu))
{
    QAction *open = m_menu->addAction(tr("Open Iterdeck"));
    m_menu->setDefaultAction(open);
    connect(open, &QAction::triggered, this, &TrayIcon::openRequested);
    m_iterationsEnd = m_menu->addSeparator();
    m_menu->addMenu(m_devMenu);
    connect(m_devMenu, &QMenu::aboutToShow, this, &TrayIcon::devMenuAboutToShow);
    m_menu->addSeparator();
    m_pause = m_menu->addAction(tr("Pause notifications"));
    m_pause->setCheckable(true);
    connect(m_menu->addAction(tr("Settings…")), &QAction::triggered, this, &TrayIcon::settingsRequested);
    m_menu->addSeparator();
    connect(m_menu->addAction(tr("Quit")), &QAction::triggered, this, &TrayIcon::quitRequested);
    m_tray->setContextMenu(m_menu);
    connect(m_tray, &QSystemTrayIcon::messageClicked, this, &TrayIcon::messageClicked);
    connect(m_tray, &QSystemTrayIcon::activated, this, [this](QSystemTrayIcon::ActivationReason reason) {
        if (reason == QSystemTrayIcon::Trigger || reason == QSystemTrayIcon::DoubleClick)
            Q_EMIT openRequested();
    });
    m_delay.setSingleShot(true);
    connect(&m_delay, &QTimer::timeout, this, [this] { apply(m_wanted); });
    apply(State::Disconnected);
}

TrayIcon::~TrayIcon()
{
    qDeleteAll(m_iterationMenus);
    delete m_menu;
}

bool TrayIcon::isAvailable()
{
    return QSystemTrayIcon::isSystemTrayAvailable();
}

void TrayIcon::show()
{
    m_tray->show();
}

QIcon TrayIcon::iconFor(State state)
{
    switch (state) {
    case State::Ok:
        return QIcon(QStringLiteral(":/icons/tray-ok.svg"));
    case State::Working:
        return QIcon(QStringLiteral(":/icons/tray-working.svg"));
    case State::Attention:
        return QIcon(QStringLiteral(":/icons/tray-attention.svg"));
    case State::Error:
        return QIcon(QStringLiteral(":/icons/tray-error.svg"));
    case State::Disconnected:
        return QIcon(QStringLiteral(":/icons/tray-disconnected.svg"));
    }
    return {};
}

void TrayIcon::setState(State state, const QString &tooltip)
{
    m_tooltip = tooltip;
    m_tray->setToolTip(tooltip.isEmpty() ? QStringLiteral("Iterdeck") : QStringLiteral("Iterdeck — ") + tooltip);
    m_wanted = state;
    if (state == m_shown) {
        m_delay.stop();
        return;
    }
    // Work that ends within the delay never changes the icon; everything else shows at once.
    if (state == State::Working) {
        if (!m_delay.isActive())
            m_delay.start(workingDelayMs());
        return;
    }
    m_delay.stop();
    apply(state);
}

void TrayIcon::apply(State state)
{
    m_shown = state;
    m_tray->setIcon(iconFor(state));
}

void TrayIcon::showMessage(const QString &title, const QString &text, bool error)
{
    if (m_pause->isChecked())
        return;
    m_tray->showMessage(title, text, error ? QSystemTrayIcon::Warning : QSystemTrayIcon::Information, 8000);
}

void TrayIcon::setIterationMenus(const QList<QMenu *> &menus)
{
    for (QMenu *m : std::as_const(m_iterationMenus))
        m_menu->removeAction(m->menuAction());
    qDeleteAll(m_iterationMenus);
    m_iterationMenus = menus;
    for (QMenu *m : menus)
        m_menu->insertMenu(m_iterationsEnd, m);
}

} // namespace iterdeck::app
