#include "settingsdialog.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QFile>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QStandardPaths>

#include <qt6keychain/keychain.h>

namespace iterdeck::app {

namespace {

QString autostartFile()
{
    const QString xdg = qEnvironmentVariable("XDG_CONFIG_HOME");
    return (xdg.isEmpty() ? QDir::homePath() + QStringLiteral("/.config") : xdg)
        + QStringLiteral("/autostart/iterdeck.desktop");
}

} // namespace

bool SettingsDialog::startsAtLogin()
{
    return QFile::exists(autostartFile());
}

bool SettingsDialog::setStartAtLogin(bool on, QString *error)
{
    const QString path = autostartFile();
    if (!on) {
        if (QFile::exists(path) && !QFile::remove(path)) {
            *error = tr("cannot remove %1").arg(path);
            return false;
        }
        return true;
    }
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        *error = tr("cannot write %1: %2").arg(path, f.errorString());
        return false;
    }
    f.write(QStringLiteral("[Desktop Entry]\nType=Application\nName=Iterdeck\nExec=%1\nIcon=iterdeck\n"
                           "X-GNOME-Autostart-enabled=true\nComment=ChatOps and dev mode for Kubernetes\n")
                .arg(QCoreApplication::applicationFilePath())
                .toUtf8());
    return true;
}

SettingsDialog::SettingsDialog(QSettings *settings, QWidget *parent)
    : QDialog(parent)
    , m_settings(settings)
    , m_kubeconfig(new QLineEdit(this))
    , m_context(new QLineEdit(this))
    , m_namespace(new QLineEdit(this))
    , m_botUrl(new QLineEdit(this))
    , m_token(new QLineEdit(this))
    , m_tokenNote(new QLabel(this))
    , m_autostart(new QCheckBox(tr("Start Iterdeck when I log in"), this))
    , m_notifyDev(new QCheckBox(tr("Dev mode: failures, conflicts, restores"), this))
    , m_notifyDeploy(new QCheckBox(tr("Deploys and new builds of my iterations"), this))
    , m_notifyIteration(new QCheckBox(tr("Iterations starting and closing, and group messages"), this))
    , m_language(new QComboBox(this))
    , m_languageNote(new QLabel(this))
    , m_allowInsecure(new QCheckBox(tr("Allow plain http to a bot on another computer (the token is sent "
                                       "unencrypted)"),
                                    this))
    , m_startLanguage(qApp->property("iterdeck.language").toString())
{
    setWindowTitle(tr("Iterdeck settings"));
    // Stable names for window tools (scripts/screenshots), whatever the language of the title.
    setObjectName(QStringLiteral("settingsDialog"));
    setWindowRole(QStringLiteral("iterdeck-settings"));
    setMinimumWidth(520);
    auto *form = new QFormLayout(this);
    m_kubeconfig->setPlaceholderText(tr("default: $KUBECONFIG, else ~/.kube/config"));
    m_context->setPlaceholderText(tr("default: the kubeconfig's current context"));
    m_namespace->setPlaceholderText(tr("default: the context's namespace"));
    m_botUrl->setPlaceholderText(QStringLiteral("https://iterdeck-bot.example.com"));
    m_token->setEchoMode(QLineEdit::Password);
    m_kubeconfig->setObjectName(QStringLiteral("kubeconfig"));
    m_context->setObjectName(QStringLiteral("context"));
    m_namespace->setObjectName(QStringLiteral("namespace"));
    m_botUrl->setObjectName(QStringLiteral("botUrl"));
    m_token->setObjectName(QStringLiteral("token"));
    m_notifyDeploy->setObjectName(QStringLiteral("notifyDeploy"));
    m_notifyIteration->setObjectName(QStringLiteral("notifyIteration"));
    m_tokenNote->setObjectName(QStringLiteral("tokenNote"));
    m_language->setObjectName(QStringLiteral("language"));
    m_languageNote->setObjectName(QStringLiteral("languageNote"));
    m_languageNote->setWordWrap(true);
    m_allowInsecure->setObjectName(QStringLiteral("allowInsecure"));
    m_autostart->setObjectName(QStringLiteral("autostart"));
    m_tokenNote->setWordWrap(true);
    m_tokenNote->setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Minimum);
    m_language->addItem(tr("System language"), QString());
    m_language->addItem(QStringLiteral("English"), QStringLiteral("en"));
    m_language->addItem(QStringLiteral("简体中文"), QStringLiteral("zh_CN"));
    form->addRow(tr("Kubeconfig"), m_kubeconfig);
    form->addRow(tr("Context"), m_context);
    form->addRow(tr("Namespace"), m_namespace);
    form->addRow(tr("Bot URL"), m_botUrl);
    form->addRow(tr("Bot token"), m_token);
    form->addRow(QString(), m_tokenNote);
    form->addRow(QString(), m_allowInsecure);
    form->setRowVisible(m_tokenNote, false); // until there is something to say
    form->addRow(tr("Notifications"), m_notifyDev);
    form->addRow(QString(), m_notifyDeploy);
    form->addRow(QString(), m_notifyIteration);
    form->addRow(tr("Language"), m_language);
    form->addRow(QString(), m_languageNote);
    form->addRow(QString(), m_autostart);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &SettingsDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &SettingsDialog::reject);
    form->addRow(buttons);

    m_kubeconfig->setText(m_settings->value(QStringLiteral("cluster/kubeconfig")).toString());
    m_context->setText(m_settings->value(QStringLiteral("cluster/context")).toString());
    m_namespace->setText(m_settings->value(QStringLiteral("cluster/namespace")).toString());
    m_botUrl->setText(m_settings->value(QStringLiteral("bot/url")).toString());
    m_notifyDev->setChecked(m_settings->value(QStringLiteral("notify/dev"), true).toBool());
    m_notifyDeploy->setChecked(m_settings->value(QStringLiteral("notify/deploy"), true).toBool());
    m_notifyIteration->setChecked(m_settings->value(QStringLiteral("notify/iteration"), true).toBool());
    m_allowInsecure->setChecked(m_settings->value(QStringLiteral("bot/allowInsecure")).toBool());
    m_language->setCurrentIndex(
        std::max(0, m_language->findData(m_settings->value(QStringLiteral("ui/language")).toString())));
    const auto languageNote = [this, form] {
        const bool changed = m_language->currentData().toString() != m_startLanguage;
        m_languageNote->setText(changed ? tr("Iterdeck shows the new language when it starts again.") : QString());
        form->setRowVisible(m_languageNote, changed);
    };
    languageNote();
    connect(m_language, &QComboBox::currentIndexChanged, this, languageNote);
    m_autostart->setChecked(startsAtLogin());
    loadToken();
}

void SettingsDialog::loadToken()
{
    auto *job = new QKeychain::ReadPasswordJob(kKeychainService, this);
    job->setKey(kTokenKey);
    job->setAutoDelete(true);
    connect(job, &QKeychain::Job::finished, this, [this, job] {
        if (job->error() == QKeychain::NoError) {
            m_token->setText(job->textData());
            m_loadedToken = job->textData();
        } else if (job->error() != QKeychain::EntryNotFound)
            showTokenNote(tr("No keychain is available (%1): the token cannot be stored safely and is kept "
                             "for this session only.")
                              .arg(job->errorString()));
    });
    job->start();
}

void SettingsDialog::showTokenNote(const QString &text)
{
    m_tokenNote->setText(text);
    auto *form = qobject_cast<QFormLayout *>(layout());
    if (form)
        form->setRowVisible(m_tokenNote, !text.isEmpty());
    if (!isVisible() || !form)
        return; // sized when shown
    // The answer comes after the dialog is shown: it grows to give the wrapped lines their height
    // (a top-level window does not follow its layout's height-for-width by itself).
    form->activate();
    const int needed = heightForWidth(width());
    if (needed > height())
        resize(width(), needed);
}

void SettingsDialog::accept()
{
    const bool clusterChanged
        = m_settings->value(QStringLiteral("cluster/kubeconfig")).toString() != m_kubeconfig->text()
        || m_settings->value(QStringLiteral("cluster/context")).toString() != m_context->text()
        || m_settings->value(QStringLiteral("cluster/namespace")).toString() != m_namespace->text();
    m_settings->setValue(QStringLiteral("cluster/kubeconfig"), m_kubeconfig->text().trimmed());
    m_settings->setValue(QStringLiteral("cluster/context"), m_context->text().trimmed());
    m_settings->setValue(QStringLiteral("cluster/namespace"), m_namespace->text().trimmed());
    const bool tokenChanged = m_token->text() != m_loadedToken;
    const bool botChanged = m_settings->value(QStringLiteral("bot/url")).toString() != m_botUrl->text().trimmed()
        || tokenChanged
        || m_settings->value(QStringLiteral("bot/allowInsecure")).toBool() != m_allowInsecure->isChecked();
    m_settings->setValue(QStringLiteral("bot/url"), m_botUrl->text().trimmed());
    m_settings->setValue(QStringLiteral("bot/allowInsecure"), m_allowInsecure->isChecked());
    m_settings->setValue(QStringLiteral("notify/iteration"), m_notifyIteration->isChecked());
    m_settings->setValue(QStringLiteral("notify/dev"), m_notifyDev->isChecked());
    m_settings->setValue(QStringLiteral("notify/deploy"), m_notifyDeploy->isChecked());
    const bool languageChanged
        = m_settings->value(QStringLiteral("ui/language")).toString() != m_language->currentData().toString()
        && m_language->currentData().toString() != m_startLanguage;
    m_settings->setValue(QStringLiteral("ui/language"), m_language->currentData().toString());
    QString error;
    if (m_autostart->isChecked() != startsAtLogin() && !setStartAtLogin(m_autostart->isChecked(), &error))
        Q_EMIT problem(tr("Start at login"), error);
    if (clusterChanged)
        Q_EMIT this->clusterChanged();
    if (botChanged)
        Q_EMIT this->botChanged(m_botUrl->text().trimmed(), m_token->text().trimmed());
    if (languageChanged)
        Q_EMIT this->languageChanged();
    if (!tokenChanged) {
        QDialog::accept();
        return;
    }
    // The dialog closes once the keychain has answered, so that a failure is told while it is
    // known which token it was about.
    QKeychain::Job *job = nullptr;
    if (m_token->text().trimmed().isEmpty()) {
        auto *remove = new QKeychain::DeletePasswordJob(kKeychainService, this);
        remove->setKey(kTokenKey);
        job = remove;
    } else {
        auto *write = new QKeychain::WritePasswordJob(kKeychainService, this);
        write->setKey(kTokenKey);
        write->setTextData(m_token->text().trimmed());
        job = write;
    }
    job->setAutoDelete(true);
    setEnabled(false);
    connect(job, &QKeychain::Job::finished, this, [this, job] {
        setEnabled(true);
        if (job->error() != QKeychain::NoError && job->error() != QKeychain::EntryNotFound)
            Q_EMIT problem(tr("Bot token not saved"),
                           tr("The token could not be stored in the keychain (%1). It is used until Iterdeck "
                              "quits; enter it again after the next start.")
                               .arg(job->errorString()));
        m_loadedToken = m_token->text();
        QDialog::accept();
    });
    job->start();
}

} // namespace iterdeck::app
