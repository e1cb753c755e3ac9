#pragma once

// One fuzz iteration over both config loaders; shared by the libFuzzer target and the
// regression test that replays tests/fuzz/regressions. The first byte picks the loader.
#include "config/devconfigloader.h"
#include "config/teammanifestloader.h"

#include <QByteArray>
#include <QJsonDocument>

#include <cstddef>
#include <cstdint>

namespace iterdeck::fuzz {

// Returns false when a diagnostic is malformed (a bug); crashes and hangs are bugs too.
inline bool configOnce(const uint8_t *data, size_t size)
{
    if (size < 1)
        return true;
    const QByteArray text(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    Diagnostics diag;
    config::LoadLimits limits;
    limits.maxNodes = 20000;
    if (data[0] & 1) {
        const auto m = config::TeamManifestLoader(limits).loadText(text, QStringLiteral("fuzz.yaml"),
                                                                   QStringLiteral("/nonexistent"), diag);
        if (m)
            (void)QJsonDocument(m->toJson()).toJson();
    } else {
        config::DevConfigLoader loader({{{QStringLiteral("SET"), QStringLiteral("v")}}, limits});
        const auto c = loader.loadText(text, QStringLiteral("fuzz.yaml"), diag);
        if (c)
            (void)QJsonDocument(c->toJson()).toJson();
    }
    for (const auto &d : diag.items()) {
        if (d.where.line < 0 || d.where.column < 0 || d.message.isEmpty() || d.toString().isEmpty())
            return false;
    }
    return true;
}

} // namespace iterdeck::fuzz
