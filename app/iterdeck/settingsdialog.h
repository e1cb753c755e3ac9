#pragma once
// Settings: the cluster (kubeconfig and context, default namespace), the bot (URL; the token
// kept in the system keychain; plain http to another host only when allowed), start at login
// (an XDG autostart entry), notifications per kind, and the language (used from the next start).
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
    // The bot URL, token or insecure switch changed: the token is given too (it may live in no
    // keychain).
    void botChanged(const QString &url, const QString &token);
    // The language chosen differs from the one this run shows (it applies at the next start).
    void languageChanged();
    // A setting could not be kept as asked (the keychain, the autostart entry): for the user.
    void problem(const QString &title, const QString &text);

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
    QLabel *m_languageNote;
    QCheckBox *m_allowInsecure;
    QString m_startLanguage; // the language this run shows (as in the settings at start)
};

} // namespace iterdeck::app
