#include "testutil.h"

#include <QDir>
#include <QFile>

namespace iterdeck::test {

QString fixturesDir()
{
    const QString dir = QDir::cleanPath(QStringLiteral(ITERDECK_FIXTURES_DIR));
    if (!QDir(dir).exists())
        qFatal("fixtures folder %s is missing: the tests need ../shared/fixtures beside the project", qPrintable(dir));
    return dir;
}

QByteArray readFile(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return f.readAll();
}

} // namespace iterdeck::test
