#include "sourcetext.h"

#include <QFile>
#include <QFileInfo>
#include <QStringDecoder>

namespace iterdeck::config {

SourceText::SourceText(const QString &file, const QByteArray &text)
    : m_file(file)
    , m_text(text)
{
    const qsizetype lines = text.count('\n') + 1;
    m_origins.reserve(lines);
    for (qsizetype i = 0; i < lines; ++i)
        m_origins.append({file, int(i + 1), 0});
}

void SourceText::setText(const QByteArray &text, QList<LineOrigin> origins)
{
    m_text = text;
    m_origins = std::move(origins);
}

// Column in characters of byte offset `byteColumn` in line `line0` of `text`.
static int charColumn(const QByteArray &text, int line0, int byteColumn)
{
    qsizetype start = 0;
    for (int i = 0; i < line0; ++i) {
        const qsizetype nl = text.indexOf('\n', start);
        if (nl < 0)
            return byteColumn;
        start = nl + 1;
    }
    int chars = 0;
    for (qsizetype i = start; i < start + byteColumn && i < text.size(); ++i) {
        if ((uchar(text[i]) & 0xC0) != 0x80)
            ++chars;
    }
    return chars;
}

SourceLocation SourceText::locate(int line0, int column0) const
{
    if (line0 < 0 || column0 < 0)
        return {m_file, 0, 0};
    const int col = charColumn(m_text, line0, column0);
    if (line0 >= m_origins.size()) {
        if (m_origins.isEmpty())
            return {m_file, line0 + 1, col + 1};
        const LineOrigin &last = m_origins.last();
        return {last.file, last.line + (line0 - int(m_origins.size()) + 1), col + 1};
    }
    const LineOrigin &o = m_origins[line0];
    return {o.file, o.line, std::max(1, col + 1 - o.columnShift)};
}

Expected<QByteArray, Diagnostic> checkText(const QByteArray &bytesIn, const QString &origin, const LoadLimits &limits)
{
    using Sev = Diagnostic::Severity;
    if (bytesIn.size() > limits.maxFileBytes) {
        return unexpected(Diagnostic {Sev::Error,
                                      {origin, 0, 0},
                                      QStringLiteral("too large to be a config file (%1 bytes; the limit is %2)")
                                          .arg(bytesIn.size())
                                          .arg(limits.maxFileBytes)});
    }
    QByteArray bytes = bytesIn;
    if (bytes.startsWith("\xEF\xBB\xBF"))
        bytes.remove(0, 3);

    // Locate the first NUL byte or invalid UTF-8 sequence by line and column.
    int line = 1;
    int col = 1;
    const auto *p = reinterpret_cast<const unsigned char *>(bytes.constData());
    const qsizetype n = bytes.size();
    for (qsizetype i = 0; i < n;) {
        const unsigned char c = p[i];
        if (c == 0) {
            return unexpected(Diagnostic {Sev::Error,
                                          {origin, line, col},
                                          QStringLiteral("binary data (a NUL byte) where YAML text was expected")});
        }
        int len = 1;
        if (c >= 0x80) {
            unsigned cp = 0;
            if (c >= 0xC2 && c <= 0xDF) {
                len = 2;
                cp = c & 0x1F;
            } else if (c >= 0xE0 && c <= 0xEF) {
                len = 3;
                cp = c & 0x0F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                len = 4;
                cp = c & 0x07;
            } else {
                len = 0;
            }
            bool ok = len > 0 && i + len <= n;
            for (int k = 1; ok && k < len; ++k) {
                if ((p[i + k] & 0xC0) != 0x80)
                    ok = false;
                else
                    cp = (cp << 6) | (p[i + k] & 0x3F);
            }
            if (ok) {
                // overlong forms, surrogates and values past U+10FFFF
                if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
                    || (cp >= 0xD800 && cp <= 0xDFFF))
                    ok = false;
            }
            if (!ok) {
                return unexpected(Diagnostic {Sev::Error,
                                              {origin, line, col},
                                              QStringLiteral("not valid UTF-8 text (byte 0x%1); "
                                                             "config files must be UTF-8")
                                                  .arg(QString::number(c, 16).toUpper())});
            }
        }
        if (c == '\n') {
            ++line;
            col = 1;
        } else {
            ++col;
        }
        i += len;
    }
    return bytes;
}

Expected<QByteArray, Diagnostic> readTextFile(const QString &path, const LoadLimits &limits)
{
    using Sev = Diagnostic::Severity;
    const QFileInfo info(path);
    if (!info.exists())
        return unexpected(Diagnostic {Sev::Error, {path, 0, 0}, QStringLiteral("no such file")});
    if (info.isDir())
        return unexpected(Diagnostic {Sev::Error, {path, 0, 0}, QStringLiteral("is a directory, not a file")});
    if (info.size() > limits.maxFileBytes) {
        return unexpected(Diagnostic {Sev::Error,
                                      {path, 0, 0},
                                      QStringLiteral("too large to be a config file (%1 bytes; the limit is %2)")
                                          .arg(info.size())
                                          .arg(limits.maxFileBytes)});
    }
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return unexpected(Diagnostic {Sev::Error, {path, 0, 0}, QStringLiteral("cannot read: ") + f.errorString()});
    // Read at most one byte past the limit: the file may grow, or be a device.
    const QByteArray bytes = f.read(limits.maxFileBytes + 1);
    return checkText(bytes, path, limits);
}

} // namespace iterdeck::config
