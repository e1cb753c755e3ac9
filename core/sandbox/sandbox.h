#pragma once
// The sandbox cluster: a single-process Kubernetes API over HTTPS whose pods run as local
// processes. Real kubectl and the Python client use it through the kubeconfig it writes.
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace iterdeck::sandbox {

struct SandboxOptions
{
    std::string dataDir; // certificates, tokens, objects, pod roots
    std::string address = "127.0.0.1";
    std::uint16_t port = 0; // 0 = any free port (the same one is reused after a restart if free)
    std::string kubeconfigOut; // default: dataDir/kubeconfig
    std::string imagesFile; // extra image catalog (YAML)
    enum class Isolation { Auto, Bubblewrap, Plain } isolation = Isolation::Auto;
    int bookmarkIntervalSeconds = 10;
    std::size_t watchHistory = 20000; // changes a watch can resume from (older: 410 Expired)
};

class Sandbox
{
public:
    Sandbox(boost::asio::io_context &io, SandboxOptions options);
    ~Sandbox();

    // Makes or loads certificates, tokens, the user policy and the stored objects, opens the
    // port, writes the kubeconfig and starts the pods. false + *error on failure.
    bool start(std::string *error);
    // Stops accepting, ends the pods' processes, saves the objects. Synchronous.
    void stop();

    std::uint16_t port() const;
    std::string kubeconfigPath() const;
    std::string isolationDescription() const;
    // Messages worth showing the user (e.g. "bubblewrap not found: ...").
    std::function<void(const std::string &)> onWarning;

private:
    class Private;
    std::unique_ptr<Private> d;
};

} // namespace iterdeck::sandbox
