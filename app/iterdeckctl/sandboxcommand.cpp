#include "sandboxcommand.h"

#include "text.h"

#include "sandbox/sandbox.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdlib>
#include <iostream>

namespace iterdeck::ctl {

namespace {
std::string str(const QString &s)
{
    return s.toStdString();
}
std::string defaultDataDir()
{
    if (const char *x = std::getenv("XDG_STATE_HOME"); x && *x)
        return std::string(x) + "/iterdeck/sandbox";
    if (const char *h = std::getenv("HOME"); h && *h)
        return std::string(h) + "/.local/state/iterdeck/sandbox";
    return ".iterdeck-sandbox";
}
} // namespace

int runSandboxUp(const SandboxUpOptions &options)
{
    boost::asio::io_context io(1);
    sandbox::SandboxOptions so;
    so.dataDir = options.dataDir.empty() ? defaultDataDir() : options.dataDir;
    so.port = options.port;
    so.address = options.address;
    so.kubeconfigOut = options.kubeconfigOut;
    so.imagesFile = options.imagesFile;
    so.isolation = options.isolation == "bubblewrap" ? sandbox::SandboxOptions::Isolation::Bubblewrap
        : options.isolation == "plain"               ? sandbox::SandboxOptions::Isolation::Plain
                                                     : sandbox::SandboxOptions::Isolation::Auto;
    sandbox::Sandbox sb(io, so);
    sb.onWarning = [](const std::string &w) { std::cerr << "iterdeckctl: warning: " << w << std::endl; };
    std::string error;
    if (!sb.start(&error)) {
        std::cerr << "iterdeckctl: " << error << std::endl;
        return 1;
    }
    std::cout << str(IterdeckCtl::tr("Sandbox cluster serving at https://%1:%2 (pods: %3)")
                         .arg(QString::fromStdString(so.address))
                         .arg(sb.port())
                         .arg(QString::fromStdString(sb.isolationDescription())))
              << "\n"
              << "listening: https://" << so.address << ":" << sb.port() << "\n"
              << "kubeconfig: " << sb.kubeconfigPath() << "\n"
              << str(IterdeckCtl::tr("Try: KUBECONFIG=%1 kubectl get namespaces")
                         .arg(QString::fromStdString(sb.kubeconfigPath())))
              << std::endl;
    boost::asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code &ec, int) {
        if (ec)
            return;
        std::cout << str(IterdeckCtl::tr("Stopping the sandbox cluster")) << std::endl;
        sb.stop();
        io.stop();
    });
    io.run();
    return 0;
}

} // namespace iterdeck::ctl
