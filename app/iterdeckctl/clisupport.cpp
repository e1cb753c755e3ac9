#include "clisupport.h"

#include <QCoreApplication>
#include <QTimer>

#include <csignal>

#include <fcntl.h>
#include <sys/select.h>
#include <unistd.h>

namespace iterdeck::ctl {

using namespace iterdeck::kube;

QString qs(const std::string &s)
{
    return QString::fromStdString(s);
}

void writeAll(int fd, const char *data, qsizetype size)
{
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size_t(size));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                fd_set w;
                FD_ZERO(&w);
                FD_SET(fd, &w);
                ::select(fd + 1, nullptr, &w, nullptr, nullptr);
                continue;
            }
            return; // a closed pipe: nothing more to do with the output
        }
        data += n;
        size -= n;
    }
}

void out(const QByteArray &b)
{
    writeAll(STDOUT_FILENO, b.constData(), b.size());
}
void out(const QString &s)
{
    out(s.toUtf8());
}
void err(const QString &s)
{
    const QByteArray b = s.toUtf8();
    writeAll(STDERR_FILENO, b.constData(), b.size());
}

int fail(const KubeError &e)
{
    if (e.kind == KubeError::Kind::Server)
        err(e.toString() + u'\n');
    else
        err(QStringLiteral("error: ") + e.message + u'\n');
    return 1;
}
int fail(const QString &message)
{
    err(QStringLiteral("error: ") + message + u'\n');
    return 1;
}

int runLoop(const std::function<void(const std::function<void(int)> &exit)> &body)
{
    int code = 0;
    bool done = false;
    auto exit = [&code, &done](int c) {
        if (done)
            return;
        done = true;
        code = c;
        QCoreApplication::exit(c);
    };
    QTimer::singleShot(0, qApp, [&body, exit] { body(exit); });
    QCoreApplication::exec();
    return code;
}

SignalWatcher::SignalWatcher(std::function<void()> onSignal)
{
    if (::pipe2(s_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    m_notifier = std::make_unique<QSocketNotifier>(s_pipe[0], QSocketNotifier::Read);
    QObject::connect(m_notifier.get(), &QSocketNotifier::activated, qApp, [fn = std::move(onSignal)] {
        char buf[16];
        while (::read(s_pipe[0], buf, sizeof buf) > 0) { }
        fn();
    });
    struct sigaction sa = {};
    sa.sa_handler = [](int) {
        const char c = 1;
        [[maybe_unused]] const auto n = ::write(s_pipe[1], &c, 1);
    };
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
}

Expected<ClientConfig, KubeError> loadConfig(const KubeFlags &flags)
{
    KubeconfigOptions o;
    o.kubeconfigFlag = qs(flags.kubeconfig);
    o.context = qs(flags.context);
    o.ns = qs(flags.ns);
    auto config = loadClientConfig(o);
    if (config) {
        for (const QString &w : std::as_const(config->warnings))
            err(QStringLiteral("warning: ") + w + u'\n');
    }
    return config;
}

std::unique_ptr<KubeClient> makeClient(const KubeFlags &flags, KubeError *error)
{
    auto config = loadConfig(flags);
    if (!config) {
        *error = config.error();
        return nullptr;
    }
    auto client = std::make_unique<KubeClient>(std::move(*config));
    client->setUserAgent(QByteArrayLiteral("iterdeckctl/" ITERDECK_VERSION));
    client->credentials()->setInteractive(::isatty(STDIN_FILENO) != 0);
    return client;
}

} // namespace iterdeck::ctl
