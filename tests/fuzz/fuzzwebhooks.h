#pragma once

// One fuzz iteration over the webhook parsers; shared by the libFuzzer target and the replay in
// tst_botwebhooks. Input: byte 0 picks the sender (webhookKinds() order) and byte 1 the request's
// shape (bit 0: sign wrongly; bit 1: form-encoded / other Content-Type); then the event header
// value up to the first '\n', then the body. The request is signed as the sender would sign it,
// so that the parsers are reached.
#include "bot/componentresolver.h"
#include "bot/crypto.h"
#include "bot/webhook.h"

#include <QByteArray>

#include <cstddef>
#include <cstdint>

namespace iterdeck::fuzz {

inline const model::TeamManifest &fuzzManifest()
{
    static const model::TeamManifest m = [] {
        model::TeamManifest t;
        t.project = QStringLiteral("shop");
        model::ComponentSpec api;
        api.name = QStringLiteral("api");
        api.repository = QStringLiteral("https://github.com/octo-org/octo-repo.git");
        api.image = QStringLiteral("registry.example.com/library/test");
        model::ComponentSpec web;
        web.name = QStringLiteral("web");
        web.repository = QStringLiteral("git@example.com:gitlab-org/gitlab-test.git");
        web.image = QStringLiteral("localhost:5000/harbor/alpine");
        t.components = {api, web};
        return t;
    }();
    return m;
}

// Returns false when an outcome breaks the parsers' contract (a bug); crashes and hangs are bugs too.
inline bool webhooksOnce(const uint8_t *data, size_t size)
{
    if (size < 2)
        return true;
    const QStringList kinds = bot::webhookKinds();
    const QString kind = kinds.at(data[0] % kinds.size());
    const uint8_t flags = data[1];
    const QByteArray rest(reinterpret_cast<const char *>(data + 2), qsizetype(size - 2));
    const qsizetype nl = rest.indexOf('\n');
    const QByteArray event = nl < 0 ? QByteArray() : rest.left(nl);
    const QByteArray body = nl < 0 ? rest : rest.mid(nl + 1);
    const QByteArray secret = "fuzz-secret";
    const QByteArray key = (flags & 1) ? QByteArray("wrong") : secret;

    bot::WebhookRequest r;
    r.body = body;
    const QByteArray signature = "sha256=" + bot::hmacSha256(key, body).toHex();
    if (kind == QLatin1String("generic")) {
        r.headers.insert("x-iterdeck-signature", signature);
    } else if (kind == QLatin1String("github")) {
        r.headers.insert("x-hub-signature-256", signature);
        r.headers.insert("x-github-event", event);
        r.headers.insert("x-github-delivery", "fuzz");
        if (flags & 2)
            r.headers.insert("content-type", "application/x-www-form-urlencoded");
    } else if (kind == QLatin1String("gitlab")) {
        r.headers.insert("x-gitlab-token", key);
        r.headers.insert("x-gitlab-event", event);
    } else if (kind == QLatin1String("jira")) {
        r.headers.insert("x-hub-signature", signature);
    } else if (kind == QLatin1String("jenkins")) {
        r.query.insert(QStringLiteral("token"), QString::fromLatin1(key));
    } else {
        r.headers.insert("authorization", "Bearer " + key);
        r.headers.insert("content-type",
                         (flags & 2) ? QByteArray("application/json")
                                     : QByteArray("application/vnd.docker.distribution.events.v1+json"));
    }
    const auto parser = bot::makeWebhookParser(kind);
    const auto parsed = bot::verifyAndParse(*parser, r, secret);
    if (!parsed) {
        const int status = parsed.error().httpStatus();
        if (parsed.error().message.isEmpty() || (status != 400 && status != 401))
            return false;
        // A wrong signature is always found, whatever the body.
        if ((flags & 1) && status != 401)
            return false;
        return true;
    }
    if (flags & 1)
        return false; // accepted with a wrong signature
    if (parsed->deliveryId.isEmpty() || parsed->event.isEmpty())
        return false;
    if (parsed->events.isEmpty() && parsed->ignoredReason.isEmpty())
        return false;
    const bot::ComponentResolver resolver(fuzzManifest());
    for (const auto &e : parsed->events) {
        if (const auto *a = std::get_if<bot::ArtifactPublished>(&e)) {
            QString why;
            const QString c = resolver.resolve(*a, &why);
            if (c.isEmpty() == why.isEmpty())
                return false;
        } else if (std::get<bot::IterationChange>(e).key.isEmpty()) {
            return false;
        }
    }
    return true;
}

} // namespace iterdeck::fuzz
