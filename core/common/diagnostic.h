#pragma once

#include <QList>
#include <QString>

namespace iterdeck {

// A position in a text file. Lines and columns count from 1; 0 means "unknown".
struct SourceLocation
{
    QString file;
    int line = 0;
    int column = 0;

    bool isValid() const { return line > 0; }
    // "file:line:col", "file:line" or "file", whichever is known.
    QString toString() const;
    friend bool operator==(const SourceLocation &, const SourceLocation &) = default;
};

// One problem found in user input: an error makes the input unusable, a warning does not.
struct Diagnostic
{
    enum class Severity { Error, Warning };

    Severity severity = Severity::Error;
    SourceLocation where;
    QString message;

    bool isError() const { return severity == Severity::Error; }
    // "file:line:col: error: message", the form compilers and editors understand.
    QString toString() const;
};

// An ordered collection of diagnostics, kept in the order they were found.
class Diagnostics
{
public:
    void error(const SourceLocation &where, const QString &message);
    void warning(const SourceLocation &where, const QString &message);
    void add(const Diagnostic &d) { m_items.append(d); }
    void append(const Diagnostics &other) { m_items.append(other.m_items); }

    bool hasErrors() const;
    qsizetype errorCount() const;
    qsizetype warningCount() const;
    bool isEmpty() const { return m_items.isEmpty(); }
    qsizetype size() const { return m_items.size(); }
    const QList<Diagnostic> &items() const { return m_items; }
    // Sorted by file, line and column; stable for equal positions.
    QList<Diagnostic> sorted() const;
    // One diagnostic a line, sorted.
    QString toString() const;

private:
    QList<Diagnostic> m_items;
};

} // namespace iterdeck
