#pragma once

#include "common/expected.h"
#include "imerror.h"
#include "model/teammanifest.h"

#include <QHash>
#include <QNetworkAccessManager>

#include <functional>

namespace iterdeck::im {

class ImAdapter;

// Reads a secret's value: the environment variable or the file (one trailing newline dropped).
// The error names the reference, never a value.
using SecretReader = std::function<Expected<QByteArray, ImError>(const QString &key, const model::SecretRef &ref)>;
SecretReader processSecretReader();

// The adapter the manifest's `im` section describes, with its secrets read; nullptr for
// adapter "none". Fails with Config when a secret is missing or a setting is unusable.
Expected<ImAdapter *, ImError> createAdapter(const model::ImSettings &settings, QNetworkAccessManager *nam,
                                             QObject *parent = nullptr,
                                             SecretReader readSecret = processSecretReader());

} // namespace iterdeck::im
