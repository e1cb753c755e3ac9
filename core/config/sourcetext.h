#pragma once

#include "common/diagnostic.h"
#include "common/expected.h"

#include <QByteArray>
#include <QList>
#include <QString>

namespace iterdeck::config {

// Limits that keep loading bounded in memory and time whatever the input.
struct LoadLimits
{
    qint64 maxFileBytes = qint64(2) * 1024 * 1024; // configs are a few KiB; refuse anything absurd
    int maxNodes = 200000; // nodes visited, counting every alias expansion
    int maxIncludeDepth = 8; // nested _INCLUDE_ directives
};

// The text a YAML parser sees, and where each of its lines came from. Preprocessing
// (environment substitution, includes) rewrites lines; positions reported to the user
// must still point into the files they wrote.
class SourceText
{
public:
    struct LineOrigin
    {
        QString file;
        int line = 0; // 1-based line in `file`
        int columnShift = 0; // columns added in front of the original text (an include's indent)
    };

    SourceText() = default;
    // Text taken verbatim from one file: line i comes from line i.
    SourceText(const QString &file, const QByteArray &text);

    const QByteArray &text() const { return m_text; }
    const QString &primaryFile() const { return m_file; }
    void setText(const QByteArray &text, QList<LineOrigin> origins);
    const QList<LineOrigin> &origins() const { return m_origins; }

    // Maps a 0-based (line, column) of text() to a 1-based location in the original file.
    // Columns count characters, not bytes.
    SourceLocation locate(int line0, int column0) const;
    SourceLocation fileStart() const { return {m_file, 1, 1}; }

private:
    QString m_file;
    QByteArray m_text;
    QList<LineOrigin> m_origins;
};

// Reads a config file with the checks every loader wants: it exists, is a regular file,
// is not too large, is text (no NUL byte), and is valid UTF-8 (a leading BOM is dropped).
Expected<QByteArray, Diagnostic> readTextFile(const QString &path, const LoadLimits &limits = {});

// Checks bytes that came from anywhere (a file, an annotation, a ConfigMap) the same way.
// `origin` names them in messages.
Expected<QByteArray, Diagnostic> checkText(const QByteArray &bytes, const QString &origin,
                                           const LoadLimits &limits = {});

} // namespace iterdeck::config
