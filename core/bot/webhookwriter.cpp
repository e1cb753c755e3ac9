#include "webhookwriter.h"

#include "logging.h"
#include "metrics.h"

#include <QJsonObject>

#include <future>

namespace iterdeck::bot {

WebhookWriter::WebhookWriter(StoreOptions store, model::TeamManifest manifest, Metrics *metrics)
    : m_storeOptions(std::move(store))
    , m_manifest(std::move(manifest))
    , m_metrics(metrics)
{ }

WebhookWriter::~WebhookWriter()
{
    stop();
}

Expected<bool, QString> WebhookWriter::start()
{
    if (m_thread.joinable())
        return true;
    std::promise<QString> opened;
    auto result = opened.get_future();
    {
        std::lock_guard lock(m_mutex);
        m_stopping = false;
    }
    m_thread = std::thread([this, &opened]() { run(&opened); });
    const QString error = result.get();
    if (!error.isEmpty()) {
        m_thread.join();
        return unexpected(error);
    }
    std::lock_guard lock(m_mutex);
    m_running = true;
    return true;
}

void WebhookWriter::stop()
{
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
        m_running = false;
    }
    m_wake.notify_all();
    if (m_thread.joinable())
        m_thread.join();
}

void WebhookWriter::submit(WebhookHook hook, WebhookRequest request, Done done)
{
    {
        std::unique_lock lock(m_mutex);
        if (m_running) {
            m_queue.push_back(Item {std::move(hook), std::move(request), std::move(done)});
            lock.unlock();
            m_wake.notify_one();
            return;
        }
    }
    WebhookOutcome out;
    out.kind = WebhookOutcome::Kind::StoreFailed;
    out.httpStatus = 503;
    out.message = QStringLiteral("the bot is shutting down; retry later");
    out.body = QJsonObject {{QStringLiteral("error"), QStringLiteral("shutting-down")},
                            {QStringLiteral("message"), out.message}};
    done(std::move(out));
}

void WebhookWriter::run(std::promise<QString> *opened)
{
    // The connection belongs to this thread: it is opened, used and closed here.
    auto store = Store::open(m_storeOptions);
    if (!store) {
        opened->set_value(store.error().message.isEmpty() ? QStringLiteral("the store cannot be opened")
                                                          : store.error().message);
        return;
    }
    opened->set_value({});
    WebhookProcessor processor(**store, m_manifest, m_metrics);
    for (;;) {
        std::deque<Item> items;
        {
            std::unique_lock lock(m_mutex);
            m_wake.wait(lock, [this]() { return m_stopping || !m_queue.empty(); });
            if (m_queue.empty())
                break; // stopping, and everything accepted has been answered
            const auto n = std::min<std::size_t>(m_queue.size(), kMaxBatch);
            std::move(m_queue.begin(), m_queue.begin() + std::ptrdiff_t(n), std::back_inserter(items));
            m_queue.erase(m_queue.begin(), m_queue.begin() + std::ptrdiff_t(n));
        }
        QList<PreparedDelivery> batch;
        QList<Done> waiting;
        for (Item &item : items) {
            auto prepared = processor.prepare(item.hook, item.request);
            if (!prepared) {
                item.done(std::move(prepared.error()));
                continue;
            }
            batch.append(std::move(*prepared));
            waiting.append(std::move(item.done));
        }
        QList<WebhookOutcome> outcomes = processor.commit(batch);
        for (qsizetype i = 0; i < outcomes.size(); ++i)
            waiting[i](std::move(outcomes[i]));
    }
    store->reset();
}

} // namespace iterdeck::bot
