#pragma once

#include <QString>

namespace iterdeck {

inline QString version()
{
    return QStringLiteral(ITERDECK_VERSION);
}

} // namespace iterdeck
