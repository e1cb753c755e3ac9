#include "sandbox/sandbox.h"

#include "sandbox/api_p.h"
#include "sandbox/httpserver.h"
#include "sandbox/runtime.h"
#include "sandbox/store.h"
#include "sandbox/tls.h"

#include <boost/asio/ssl.hpp>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace iterdeck::sandbox {

namespace fs = std::filesystem;
namespace net = boost::asio;

namespace {

std::string readFile(const fs::path &p)
{
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool writeFileAtomic(const fs::path &p, const std::string &data, mode_t mode, std::string *error)
{
    fs::path tmp = p;
    tmp += ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        *error = "cannot write " + tmp.string() + ": " + std::strerror(errno);
        return false;
    }
    std::size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::write(fd, data.data() + off, data.size() - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *error = "cannot write " + tmp.string() + ": " + std::strerror(errno);
            ::close(fd);
            return false;
        }
        off += std::size_t(n);
    }
    ::fsync(fd);
    ::close(fd);
    if (::rename(tmp.c_str(), p.c_str()) != 0) {
        *error = "cannot rename " + tmp.string() + ": " + std::strerror(errno);
        return false;
    }
    return true;
}

const char *kDefaultPolicy = R"(# Users of the sandbox cluster and what each may do. Edit and restart the sandbox.
# A rule allows `verbs` on `resources` ("pods", "pods/exec", "deployments", "*"), in the
# namespaces matching `namespaces` (patterns; no list = everywhere, cluster scope included).
users:
  - name: admin
    groups: [system:masters]
    authentication: token
    rules:
      - verbs: ["*"]
        resources: ["*"]
  - name: developer
    groups: ["iterdeck:developers"]
    authentication: certificate
    rules:
      - verbs: [get, list, watch]
        resources: [namespaces, nodes, pods, pods/log, services, endpoints, configmaps, events, serviceaccounts,
                    persistentvolumeclaims, deployments, deployments/scale, replicasets, statefulsets,
                    horizontalpodautoscalers]
      - verbs: ["*"]
        resources: ["*"]
        namespaces: ["dev-*"]
)";

std::vector<std::string> stringList(const YAML::Node &n)
{
    std::vector<std::string> out;
    if (n && n.IsSequence())
        for (const auto &v : n)
            out.push_back(v.as<std::string>());
    return out;
}

} // namespace

class Sandbox::Private
{
public:
    Private(net::io_context &io, SandboxOptions o)
        : io(io)
        , options(std::move(o))
        , tls(net::ssl::context::tls_server)
        , saveTimer(io)
    { }

    bool loadPolicy(std::string *error)
    {
        fs::path file = fs::path(options.dataDir) / "sandbox.yaml";
        if (!fs::exists(file) && !writeFileAtomic(file, kDefaultPolicy, 0644, error))
            return false;
        try {
            YAML::Node root = YAML::LoadFile(file.string());
            for (const auto &u : root["users"]) {
                SandboxUser user;
                user.name = u["name"].as<std::string>();
                user.groups = stringList(u["groups"]);
                for (const auto &r : u["rules"]) {
                    PolicyRule rule;
                    rule.verbs = stringList(r["verbs"]);
                    rule.resources = stringList(r["resources"]);
                    rule.namespaces = stringList(r["namespaces"]);
                    user.rules.push_back(rule);
                }
                std::string auth = u["authentication"] ? u["authentication"].as<std::string>() : "token";
                if (auth == "token") {
                    fs::path tokenFile = fs::path(options.dataDir) / (user.name + ".token");
                    if (!fs::exists(tokenFile) && !writeFileAtomic(tokenFile, randomToken() + "\n", 0600, error))
                        return false;
                    user.token = readFile(tokenFile);
                    while (!user.token.empty() && (user.token.back() == '\n' || user.token.back() == '\r'))
                        user.token.pop_back();
                }
                users.push_back(user);
                authKinds.push_back(auth);
            }
        } catch (const YAML::Exception &e) {
            *error = file.string() + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1)
                + ": " + e.msg;
            return false;
        }
        return true;
    }

    bool writeKubeconfig(std::string *error)
    {
        std::string server = "https://127.0.0.1:" + std::to_string(http->port());
        if (options.address != "127.0.0.1" && options.address != "0.0.0.0")
            server = "https://"
                + (options.address.find(':') != std::string::npos ? "[" + options.address + "]" : options.address) + ":"
                + std::to_string(http->port());
        YAML::Emitter e;
        e << YAML::BeginMap << YAML::Key << "apiVersion" << YAML::Value << "v1" << YAML::Key << "kind" << YAML::Value
          << "Config";
        e << YAML::Key << "clusters" << YAML::Value << YAML::BeginSeq << YAML::BeginMap << YAML::Key << "name"
          << YAML::Value << "iterdeck-sandbox" << YAML::Key << "cluster" << YAML::Value << YAML::BeginMap << YAML::Key
          << "server" << YAML::Value << server << YAML::Key << "certificate-authority-data" << YAML::Value
          << toBase64(material.caCertPem) << YAML::EndMap << YAML::EndMap << YAML::EndSeq;
        e << YAML::Key << "users" << YAML::Value << YAML::BeginSeq;
        std::string first;
        for (std::size_t i = 0; i < users.size(); ++i) {
            const auto &u = users[i];
            e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "sandbox-" + u.name << YAML::Key << "user"
              << YAML::Value << YAML::BeginMap;
            if (authKinds[i] == "token") {
                e << YAML::Key << "token" << YAML::Value << u.token;
            } else {
                std::string err;
                auto cert = loadOrCreateClientCert((fs::path(options.dataDir) / "pki").string(), u.name, material,
                                                   u.name, u.groups, &err);
                if (!cert) {
                    *error = err;
                    return false;
                }
                e << YAML::Key << "client-certificate-data" << YAML::Value << toBase64(cert->certPem) << YAML::Key
                  << "client-key-data" << YAML::Value << toBase64(cert->keyPem);
            }
            e << YAML::EndMap << YAML::EndMap;
        }
        e << YAML::EndSeq;
        e << YAML::Key << "contexts" << YAML::Value << YAML::BeginSeq;
        for (const auto &u : users) {
            if (first.empty())
                first = "sandbox-" + u.name;
            e << YAML::BeginMap << YAML::Key << "name" << YAML::Value << "sandbox-" + u.name << YAML::Key << "context"
              << YAML::Value << YAML::BeginMap << YAML::Key << "cluster" << YAML::Value << "iterdeck-sandbox"
              << YAML::Key << "user" << YAML::Value << "sandbox-" + u.name << YAML::Key << "namespace" << YAML::Value
              << "default" << YAML::EndMap << YAML::EndMap;
        }
        e << YAML::EndSeq;
        e << YAML::Key << "current-context" << YAML::Value << first << YAML::EndMap;
        fs::path out = options.kubeconfigOut.empty() ? fs::path(options.dataDir) / "kubeconfig"
                                                     : fs::path(options.kubeconfigOut);
        if (out.has_parent_path())
            fs::create_directories(out.parent_path());
        return writeFileAtomic(out, std::string(e.c_str()) + "\n", 0600, error)
            && (kubeconfig = fs::absolute(out).string(), true);
    }

    void scheduleSave()
    {
        if (savePending)
            return;
        savePending = true;
        saveTimer.expires_after(std::chrono::milliseconds(200));
        saveTimer.async_wait([this](boost::system::error_code ec) {
            savePending = false;
            if (!ec)
                save();
        });
    }

    void save()
    {
        std::string err;
        if (!writeFileAtomic(fs::path(options.dataDir) / "objects.json", store.snapshotText(), 0600, &err) && onWarning)
            onWarning(err);
    }

    void seed()
    {
        const ResourceType &nsType = *findResourceByQualified("namespaces");
        for (const char *ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
            if (!store.get("namespaces", "", ns))
                api->createObject(nsType,
                                  Json {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}, "");
        if (!store.get("nodes", "", "sandbox")) {
            Json node = {{"apiVersion", "v1"},
                         {"kind", "Node"},
                         {"metadata",
                          {{"name", "sandbox"},
                           {"uid", newUid()},
                           {"creationTimestamp", nowRfc3339()},
                           {"labels", {{"kubernetes.io/hostname", "sandbox"}, {"kubernetes.io/os", "linux"}}}}},
                         {"spec", Json::object()},
                         {"status",
                          {{"addresses",
                            {{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                             {{"type", "Hostname"}, {"address", "sandbox"}}}},
                           {"conditions",
                            {{{"type", "Ready"},
                              {"status", "True"},
                              {"reason", "KubeletReady"},
                              {"message", "the sandbox runs pods as local processes"}}}},
                           {"nodeInfo",
                            {{"kubeletVersion", "v1.32.0-iterdeck-sandbox"},
                             {"operatingSystem", "linux"},
                             {"architecture", "amd64"},
                             {"containerRuntimeVersion", "sandbox://1"}}}}}};
            store.put("nodes", std::move(node));
        }
    }

    net::io_context &io;
    SandboxOptions options;
    net::ssl::context tls;
    TlsMaterial material;
    Store store;
    std::unique_ptr<Runtime> runtime;
    std::unique_ptr<Api> api;
    std::unique_ptr<HttpServer> http;
    std::vector<SandboxUser> users;
    std::vector<std::string> authKinds;
    std::string kubeconfig;
    net::steady_timer saveTimer;
    bool savePending = false;
    bool stopped = false;
    std::function<void(const std::string &)> onWarning;
};

Sandbox::Sandbox(net::io_context &io, SandboxOptions options)
    : d(std::make_unique<Private>(io, std::move(options)))
{ }

Sandbox::~Sandbox()
{
    stop();
}

bool Sandbox::start(std::string *error)
{
    auto &o = d->options;
    d->onWarning = onWarning;
    std::error_code ec;
    fs::create_directories(o.dataDir, ec);
    if (ec) {
        *error = "cannot create " + o.dataDir + ": " + ec.message();
        return false;
    }
    o.dataDir = fs::absolute(o.dataDir).string();
    auto material = loadOrCreateTls((fs::path(o.dataDir) / "pki").string(), error);
    if (!material)
        return false;
    d->material = *material;
    try {
        d->tls.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2
                           | net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1);
        d->tls.use_certificate_chain(net::buffer(material->serverCertPem));
        d->tls.use_private_key(net::buffer(material->serverKeyPem), net::ssl::context::pem);
        d->tls.add_certificate_authority(net::buffer(material->caCertPem));
        // Ask for a client certificate, accept connections without one (tokens), and verify
        // the ones that come against the sandbox's CA.
        d->tls.set_verify_mode(net::ssl::verify_peer);
        d->tls.set_verify_callback([](bool, net::ssl::verify_context &) { return true; });
        SSL_CTX_set_verify(d->tls.native_handle(), SSL_VERIFY_PEER, [](int, X509_STORE_CTX *) { return 1; });
        // HTTP/1.1 only: kubectl would use HTTP/2 if offered.
        SSL_CTX_set_alpn_select_cb(
            d->tls.native_handle(),
            [](SSL *, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned int inlen,
               void *) -> int {
                static const unsigned char h1[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
                unsigned char *sel = nullptr;
                if (SSL_select_next_proto(&sel, outlen, h1, sizeof h1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
                    *out = sel;
                    return SSL_TLSEXT_ERR_OK;
                }
                return SSL_TLSEXT_ERR_NOACK;
            },
            nullptr);
    } catch (const std::exception &e) {
        *error = std::string("TLS setup failed: ") + e.what();
        return false;
    }
    if (!d->loadPolicy(error))
        return false;

    fs::path state = fs::path(o.dataDir) / "objects.json";
    if (fs::exists(state)) {
        try {
            d->store.restore(Json::parse(readFile(state)));
        } catch (const std::exception &e) {
            *error = state.string() + ": the stored objects cannot be read: " + e.what();
            return false;
        }
    }

    RuntimeOptions ro;
    ro.dataDir = o.dataDir;
    ro.isolation = o.isolation == SandboxOptions::Isolation::Bubblewrap ? RuntimeOptions::Isolation::Bubblewrap
        : o.isolation == SandboxOptions::Isolation::Plain               ? RuntimeOptions::Isolation::Plain
                                                                        : RuntimeOptions::Isolation::Auto;
    if (!o.imagesFile.empty()) {
        auto cat = ImageCatalog::load(o.imagesFile, error);
        if (!cat)
            return false;
        ro.catalog = *cat;
    }
    Private *p = d.get();
    ro.lookup = [p](const std::string &kind, const std::string &ns, const std::string &name) -> Json {
        std::string res = kind == "ConfigMap" ? "configmaps" : kind == "Secret" ? "secrets" : "persistentvolumeclaims";
        auto obj = p->store.get(res, ns, name);
        return obj ? *obj : Json();
    };
    ro.claimDirectory = [p](const std::string &ns, const std::string &claim) {
        fs::path dir = fs::path(p->options.dataDir) / "volumes" / ns / claim;
        std::error_code ec2;
        fs::create_directories(dir, ec2);
        return dir.string();
    };
    d->runtime = std::make_unique<Runtime>(d->io, std::move(ro));
    d->api = std::make_unique<Api>(d->io, d->store, *d->runtime);
    d->api->users = d->users;
    d->api->bookmarkIntervalSeconds = o.bookmarkIntervalSeconds;
    d->store.setHistoryLimit(o.watchHistory);
    d->api->caPem = material->caCertPem;
    d->runtime->onStatus = [p](const std::string &uid, const Json &status) { p->api->onPodStatus(uid, status); };
    d->runtime->onEvent = [p](const std::string &uid, const RuntimeEvent &event) { p->api->onPodEvent(uid, event); };
    d->store.addListener([p](const StoreEvent &e) {
        p->api->onStoreEvent(e);
        p->scheduleSave();
    });

    Api *api = d->api.get();
    d->http = std::make_unique<HttpServer>(
        d->io, d->tls, [api](HttpRequest &r, const std::shared_ptr<HttpReply> &reply) { api->handle(r, reply); });
    std::uint16_t port = o.port;
    fs::path portFile = fs::path(o.dataDir) / "port";
    if (port == 0 && fs::exists(portFile)) {
        // Keep the address of the written kubeconfig after a restart when we can.
        std::string err2;
        std::uint16_t previous = std::uint16_t(std::atoi(readFile(portFile).c_str()));
        if (previous && d->http->listen(o.address, previous, &err2))
            port = previous;
        else
            d->http = std::make_unique<HttpServer>(
                d->io, d->tls,
                [api](HttpRequest &r, const std::shared_ptr<HttpReply> &reply) { api->handle(r, reply); });
    }
    if (d->http->port() == 0 && !d->http->listen(o.address, port, error))
        return false;
    std::string err;
    writeFileAtomic(portFile, std::to_string(d->http->port()) + "\n", 0644, &err);
    d->api->serverAddress = "127.0.0.1:" + std::to_string(d->http->port());
    if (!d->writeKubeconfig(error))
        return false;
    d->seed();
    d->api->startExistingPods();
    return true;
}

void Sandbox::stop()
{
    if (d->stopped || !d->api)
        return;
    d->stopped = true;
    d->http->stop();
    d->api->shutdown();
    d->runtime->shutdown();
    d->saveTimer.cancel();
    d->save();
}

std::uint16_t Sandbox::port() const
{
    return d->http ? d->http->port() : 0;
}

std::string Sandbox::kubeconfigPath() const
{
    return d->kubeconfig;
}

std::string Sandbox::isolationDescription() const
{
    return d->runtime ? d->runtime->isolationDescription() : std::string();
}

} // namespace iterdeck::sandbox
