#pragma once
// The port-forwards of one workload: in dev mode those of its dev config and those added by hand
// (to the dev pod), otherwise those added by hand (to its pods), each with its local address and
// state; add one (local port, remote port; local 0 picks a free port) or remove a hand-added
// one, live.
#include "devmode/workload.h"

#include <QWidget>

class QLabel;
class QListWidget;
class QPushButton;
class QSpinBox;

namespace iterdeck::app {

class DevController;

class PortForwardsPanel : public QWidget
{
    Q_OBJECT
public:
    explicit PortForwardsPanel(DevController *dev, QWidget *parent = nullptr);

    // Follows this workload (an empty name: none), whose pods match `selector`. Available while
    // it is in dev mode or has a selector.
    void setWorkload(const QString &ns, const devmode::WorkloadRef &ref, const QString &selector = {});
    bool isAvailable() const { return m_available; }

    QListWidget *list() const { return m_list; }
    QSpinBox *localPort() const { return m_local; }
    QSpinBox *remotePort() const { return m_remote; }
    QPushButton *addButton() const { return m_add; }
    QPushButton *removeButton() const { return m_remove; }
    QLabel *errorLabel() const { return m_error; }

    // Adds LOCAL:REMOTE from the two fields; false (and the reason shown) when it cannot.
    bool addFromFields();
    // Removes the selected hand-added forward.
    void removeSelected();

Q_SIGNALS:
    void availableChanged(bool available);

private:
    void refresh();
    void updateButtons();
    void showError(const QString &text);

    DevController *m_dev;
    QString m_ns;
    devmode::WorkloadRef m_ref;
    QString m_selector;
    QLabel *m_title;
    QListWidget *m_list;
    QSpinBox *m_local;
    QSpinBox *m_remote;
    QPushButton *m_add;
    QPushButton *m_remove;
    QLabel *m_error;
    bool m_available = false;
};

} // namespace iterdeck::app
