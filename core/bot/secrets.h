#pragma once

#include "common/expected.h"
#include "model/secretref.h"

#include <QByteArray>
#include <QString>

namespace iterdeck::bot {

// The value behind a secret reference: an environment variable, or a file's content without
// its trailing line break. An unset variable, an unreadable file or an empty value is an error.
Expected<QByteArray, QString> readSecret(const model::SecretRef &ref);

} // namespace iterdeck::bot
