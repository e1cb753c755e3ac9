#include "secretref.h"

namespace iterdeck::model {

QJsonObject SecretRef::toJson() const
{
    switch (kind) {
    case Kind::Env:
        return {{QStringLiteral("env"), name}};
    case Kind::File:
        return {{QStringLiteral("file"), name}};
    case Kind::None:
        break;
    }
    return {};
}

} // namespace iterdeck::model
