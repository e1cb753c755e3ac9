#pragma once
// The tray icon: its state (ok, working, attention, error, disconnected) drawn from the SVGs
// in resources/icons, and its menu. "Working" shows only when work lasts (no flicker during a
// routine sync); the other states show at once.
#include <QIcon>
#include <QObject>
#include <QSystemTrayIcon>
#include <QTimer>

class QMenu;
class QAction;

namespace iterdeck::app {

class TrayIcon : public QObject
{
    Q_OBJECT
public:
    enum class State { Ok, Working, Attention, Error, Disconnected };
    Q_ENUM(State)

    explicit TrayIcon(QObject *parent = nullptr);
    ~TrayIcon() override;

    static bool isAvailable();
    void show();
    // The state the icon should reach; Working is delayed by workingDelayMs().
    void setState(State state, const QString &tooltip = {});
    State shownState() const { return m_shown; }
    static int workingDelayMs() { return 400; }
    static QIcon iconFor(State state);

    QMenu *menu() const { return m_menu; }
    QMenu *devMenu() const { return m_devMenu; }
    QAction *pauseAction() const { return m_pause; }
    void showMessage(const QString &title, const QString &text, bool error = false);
    // The per-iteration submenus, shown after "Open Iterdeck"; takes ownership, replaces the old ones.
    void setIterationMenus(const QList<QMenu *> &menus);
    QList<QMenu *> iterationMenus() const { return m_iterationMenus; }

Q_SIGNALS:
    void openRequested();
    void settingsRequested();
    void quitRequested();
    void devMenuAboutToShow();
    void messageClicked(); // the last notification shown

private:
    void apply(State state);

    QSystemTrayIcon *m_tray;
    QMenu *m_menu;
    QMenu *m_devMenu;
    QAction *m_pause;
    QAction *m_iterationsEnd; // the separator after the iteration submenus
    QList<QMenu *> m_iterationMenus;
    State m_shown = State::Disconnected;
    State m_wanted = State::Disconnected;
    QString m_tooltip;
    QTimer m_delay;
};

} // namespace iterdeck::app
