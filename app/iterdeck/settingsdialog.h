#pragma once
// Settings: the cluster (kubeconfig and context, default namespace), the bot (URL; the token
// kept in the system keychain), start at login (an XDG autostart entry), notifications per
// kind, and the language.
#include <QDialog>
#include <QString>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QSettings;

namespace iterdeck::app {

// Where the bot token lives in the system keychain (QtKeychain service and key).
inline const QString kKeychainService = QStringLiteral("iterdeck");
inline const QString kTokenKey = QStringLiteral("bot-token");

class SettingsDialog : public QDialog
{
    Q_OBJECT
public:
    SettingsDialog(QSettings *settings, QWidget *parent = nullptr);

    // Writes or removes ~/.config/autostart/iterdeck.desktop ($XDG_CONFIG_HOME honoured).
    static bool setStartAtLogin(bool on, QString *error);
    static bool startsAtLogin();

    void accept() override;

Q_SIGNALS:
    void clusterChanged();
    // The bot URL or token changed: the token is given too (it may live in no keychain).
    void botChanged(const QString &url, const QString &token);

private:
    void loadToken();
    // Shows the note under the token (why it is not kept safely) and makes room for it.
    void showTokenNote(const QString &text);

    QSettings *m_settings;
    QLineEdit *m_kubeconfig;
    QLineEdit *m_context;
    QLineEdit *m_namespace;
    QLineEdit *m_botUrl;
    QLineEdit *m_token;
    QLabel *m_tokenNote;
    QCheckBox *m_autostart;
    QCheckBox *m_notifyDev;
    QCheckBox *m_notifyDeploy;
    QCheckBox *m_notifyIteration;
    QString m_loadedToken;
    QComboBox *m_language;
};

} // namespace iterdeck::app
