#include "diagnostic.h"

#include <algorithm>

namespace iterdeck {

QString SourceLocation::toString() const
{
    QString s = file;
    if (line > 0) {
        s += u':' + QString::number(line);
        if (column > 0)
            s += u':' + QString::number(column);
    }
    return s;
}

QString Diagnostic::toString() const
{
    const QString kind = severity == Severity::Error ? QStringLiteral("error") : QStringLiteral("warning");
    const QString loc = where.toString();
    return loc.isEmpty() ? QString(kind + u": " + message) : QString(loc + u": " + kind + u": " + message);
}

void Diagnostics::error(const SourceLocation &where, const QString &message)
{
    m_items.append({Diagnostic::Severity::Error, where, message});
}

void Diagnostics::warning(const SourceLocation &where, const QString &message)
{
    m_items.append({Diagnostic::Severity::Warning, where, message});
}

bool Diagnostics::hasErrors() const
{
    return errorCount() > 0;
}

qsizetype Diagnostics::errorCount() const
{
    return std::count_if(m_items.cbegin(), m_items.cend(), [](const Diagnostic &d) { return d.isError(); });
}

qsizetype Diagnostics::warningCount() const
{
    return m_items.size() - errorCount();
}

QList<Diagnostic> Diagnostics::sorted() const
{
    QList<Diagnostic> out = m_items;
    std::stable_sort(out.begin(), out.end(), [](const Diagnostic &a, const Diagnostic &b) {
        if (a.where.file != b.where.file)
            return a.where.file < b.where.file;
        if (a.where.line != b.where.line)
            return a.where.line < b.where.line;
        return a.where.column < b.where.column;
    });
    return out;
}

QString Diagnostics::toString() const
{
    QString out;
    for (const Diagnostic &d : sorted())
        out += d.toString() + u'\n';
    return out;
}

} // namespace iterdeck
