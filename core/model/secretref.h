#pragma once

#include <QJsonObject>
#include <QString>

namespace iterdeck::model {

// Where a secret comes from. Configs never hold secret values, only these references.
struct SecretRef
{
    enum class Kind { None, Env, File };
    Kind kind = Kind::None;
    QString name; // the environment variable, or the file path (absolute once loaded)

    bool isSet() const { return kind != Kind::None; }
    // {"env": NAME} or {"file": PATH}, or null-like empty object.
    QJsonObject toJson() const;
    friend bool operator==(const SecretRef &, const SecretRef &) = default;
};

} // namespace iterdeck::model
