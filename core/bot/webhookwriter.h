#pragma once

#include "model/teammanifest.h"
#include "store.h"
#include "webhookprocessor.h"

#include <QList>
#include <QString>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace iterdeck::bot {

class Metrics;

// Commits webhooks on a thread of its own, with a store connection of its own, so that an
// answer waits for its own commit and nothing else (not for the desktop fan-out or a deploy on
// the bot's main thread). The deliveries that arrive while a commit runs go into the next
// transaction together: one sync to disk for all of them (group commit).
class WebhookWriter
{
public:
    // Called on the writer's thread, once per submitted delivery, after its commit (or at once
    // for one that fails verification).
    using Done = std::function<void(WebhookOutcome outcome)>;

    WebhookWriter(StoreOptions store, model::TeamManifest manifest, Metrics *metrics);
    ~WebhookWriter();
    WebhookWriter(const WebhookWriter &) = delete;
    WebhookWriter &operator=(const WebhookWriter &) = delete;

    // Starts the thread and opens the store on it; an error says why the store cannot be used.
    Expected<bool, QString> start();
    // Commits what is queued, then ends the thread. Later submissions are answered 503.
    void stop();

    // Thread-safe.
    void submit(WebhookHook hook, WebhookRequest request, Done done);

    // The most deliveries one transaction takes.
    static constexpr int kMaxBatch = 256;

private:
    struct Item
    {
        WebhookHook hook;
        WebhookRequest request;
        Done done;
    };
    void run(std::promise<QString> *opened);

    const StoreOptions m_storeOptions;
    const model::TeamManifest m_manifest;
    Metrics *const m_metrics;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<Item> m_queue;
    bool m_stopping = false;
    bool m_running = false;
    std::thread m_thread;
};

} // namespace iterdeck::bot
