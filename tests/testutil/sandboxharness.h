#pragma once
// Drives the sandbox API in-process, without sockets: a request goes to Api::handle and the
// reply is captured. Pods never start processes (the image catalog is empty), so tests and the
// fuzzer exercise the API, validation and controllers alone.
#include "sandbox/api_p.h"
#include "sandbox/runtime.h"
#include "sandbox/store.h"

#include <boost/asio/io_context.hpp>

#include <filesystem>
#include <memory>
#include <string>

namespace iterdeck::sandbox::testing {

class CapturedStream : public StreamWriter
{
public:
    void write(std::string data) override { text += data; }
    void finish() override { finished = true; }
    void abort() override { finished = true; }
    std::size_t queuedBytes() const override { return 0; }
    bool closed() const override { return finished; }
    std::string text;
    bool finished = false;
};

class CapturedReply : public HttpReply
{
public:
    void respond(HttpResponse r) override
    {
        response = std::move(r);
        answered = true;
    }
    std::shared_ptr<StreamWriter> stream(int status, const std::string &contentType) override
    {
        response.status = status;
        response.contentType = contentType;
        answered = true;
        streamed = std::make_shared<CapturedStream>();
        return streamed;
    }
    void upgrade(const std::string &subprotocol, bool, std::function<void(std::shared_ptr<WebSocketChannel>)>) override
    {
        upgradedTo = subprotocol;
        answered = true;
        response.status = 101;
    }
    HttpResponse response;
    std::shared_ptr<CapturedStream> streamed;
    std::string upgradedTo;
    bool answered = false;
};

class ApiHarness
{
public:
    explicit ApiHarness(const std::string &dataDir)
    {
        RuntimeOptions o;
        o.dataDir = dataDir;
        o.catalog = ImageCatalog {};
        o.isolation = RuntimeOptions::Isolation::Plain;
        runtime = std::make_unique<Runtime>(io, std::move(o));
        api = std::make_unique<Api>(io, store, *runtime);
        SandboxUser admin;
        admin.name = "admin";
        admin.token = "admin-token";
        admin.rules.push_back(PolicyRule {{"*"}, {"*"}, {}});
        SandboxUser dev;
        dev.name = "developer";
        dev.token = "dev-token";
        dev.rules.push_back(PolicyRule {{"get", "list", "watch"}, {"pods"}, {}});
        dev.rules.push_back(PolicyRule {{"*"}, {"*"}, {"dev-*"}});
        api->users = {admin, dev};
        runtime->onStatus = [this](const std::string &uid, const Json &status) { api->onPodStatus(uid, status); };
        store.addListener([this](const StoreEvent &e) { api->onStoreEvent(e); });
        for (const char *ns : {"default", "dev-a"})
            request("POST", "/api/v1/namespaces",
                    R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")" + std::string(ns) + "\"}}");
    }
    ~ApiHarness()
    {
        api->shutdown();
        runtime->shutdown();
    }

    std::shared_ptr<CapturedReply> request(const std::string &method, const std::string &target,
                                           const std::string &body = {},
                                           const std::string &contentType = "application/json",
                                           const std::string &token = "admin-token", const std::string &accept = {})
    {
        HttpRequest r;
        r.method = method;
        r.target = target;
        auto q = target.find('?');
        r.path = percentDecode(target.substr(0, q), false);
        if (q != std::string::npos) {
            std::string qs = target.substr(q + 1);
            std::size_t start = 0;
            while (start <= qs.size()) {
                auto amp = qs.find('&', start);
                std::string kv = qs.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
                if (!kv.empty()) {
                    auto eq = kv.find('=');
                    r.query.emplace_back(percentDecode(kv.substr(0, eq), true),
                                         eq == std::string::npos ? std::string()
                                                                 : percentDecode(kv.substr(eq + 1), true));
                }
                if (amp == std::string::npos)
                    break;
                start = amp + 1;
            }
        }
        if (!token.empty())
            r.headers["authorization"] = "Bearer " + token;
        if (!contentType.empty())
            r.headers["content-type"] = contentType;
        if (!accept.empty())
            r.headers["accept"] = accept;
        r.body = body;
        auto reply = std::make_shared<CapturedReply>();
        api->handle(r, reply);
        settle();
        return reply;
    }

    // Runs the controllers until nothing is left to do (timers are not waited for).
    void settle()
    {
        for (int i = 0; i < 100 && io.poll() > 0; ++i) { }
        io.restart();
    }

    boost::asio::io_context io;
    Store store;
    std::unique_ptr<Runtime> runtime;
    std::unique_ptr<Api> api;
};

} // namespace iterdeck::sandbox::testing
