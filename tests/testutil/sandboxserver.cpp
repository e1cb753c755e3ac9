#include "sandboxserver.h"

#include "sandbox/sandbox.h"

#include <QFile>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <future>
#include <thread>

namespace iterdeck::testing {

class SandboxServer::Private
{
public:
    boost::asio::io_context io {1};
    std::unique_ptr<sandbox::Sandbox> sandbox;
    std::thread thread;
    bool running = false;
    QString error;
    QString dataDir;
};

SandboxServer::SandboxServer(const QString &dataDir, const QString &isolation)
    : SandboxServer(dataDir, Options {isolation})
{ }

SandboxServer::SandboxServer(const QString &dataDir, const Options &options)
    : d(std::make_unique<Private>())
{
    const QString &isolation = options.isolation;
    d->dataDir = dataDir;
    sandbox::SandboxOptions o;
    o.dataDir = dataDir.toStdString();
    o.isolation = isolation == QLatin1String("bubblewrap") ? sandbox::SandboxOptions::Isolation::Bubblewrap
        : isolation == QLatin1String("auto")               ? sandbox::SandboxOptions::Isolation::Auto
                                                           : sandbox::SandboxOptions::Isolation::Plain;
    o.watchHistory = std::size_t(options.watchHistory);
    o.bookmarkIntervalSeconds = options.bookmarkIntervalSeconds;
    d->sandbox = std::make_unique<sandbox::Sandbox>(d->io, o);
    std::promise<std::string> started;
    auto result = started.get_future();
    d->thread = std::thread([this, &started] {
        std::string error;
        if (!d->sandbox->start(&error)) {
            started.set_value(error.empty() ? std::string("start failed") : error);
            return;
        }
        started.set_value({});
        d->io.run();
    });
    const std::string error = result.get();
    d->running = error.empty();
    d->error = QString::fromStdString(error);
    if (!d->running && d->thread.joinable())
        d->thread.join();
}

SandboxServer::~SandboxServer()
{
    if (d->running) {
        std::promise<void> stopped;
        boost::asio::post(d->io, [this, &stopped] {
            d->sandbox->stop();
            d->io.stop();
            stopped.set_value();
        });
        stopped.get_future().wait();
    }
    if (d->thread.joinable())
        d->thread.join();
}

bool SandboxServer::isRunning() const
{
    return d->running;
}

QString SandboxServer::errorString() const
{
    return d->error;
}

quint16 SandboxServer::port() const
{
    return d->sandbox->port();
}

QString SandboxServer::kubeconfigPath() const
{
    return QString::fromStdString(d->sandbox->kubeconfigPath());
}

QString SandboxServer::dataDir() const
{
    return d->dataDir;
}

QString SandboxServer::server() const
{
    return QStringLiteral("https://127.0.0.1:%1").arg(port());
}

QString SandboxServer::adminToken() const
{
    QFile f(d->dataDir + QStringLiteral("/admin.token"));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QString::fromUtf8(f.readAll()).trimmed();
}

QString SandboxServer::caFile() const
{
    return d->dataDir + QStringLiteral("/pki/ca.crt");
}

} // namespace iterdeck::testing
