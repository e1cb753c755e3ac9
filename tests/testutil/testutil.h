#pragma once

#include <QString>

namespace iterdeck::test {

// The shared real-world fixtures (../shared/fixtures). Fails the calling test when missing.
QString fixturesDir();
// Reads a whole file, or returns an empty array.
QByteArray readFile(const QString &path);

} // namespace iterdeck::test
