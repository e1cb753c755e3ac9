#include "envsubst.h"

#include <QDir>
#include <QFileInfo>

namespace iterdeck::config {

namespace {

bool isNameChar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || (uchar(c) & 0x80);
}

// Output text plus the origin of each of its lines.
struct Builder
{
    QByteArray out;
    QList<SourceText::LineOrigin> origins;

    void startLine(const SourceText::LineOrigin &o) { origins.append(o); }
    // Appends `s`; every line it starts maps to `next`.
    void append(const QByteArray &s, const SourceText::LineOrigin &next)
    {
        qsizetype from = 0;
        for (;;) {
            const qsizetype nl = s.indexOf('\n', from);
            if (nl < 0) {
                out.append(s.constData() + from, s.size() - from);
                return;
            }
            out.append(s.constData() + from, nl - from + 1);
            origins.append(next);
            from = nl + 1;
        }
    }
};

} // namespace

EnvSubst::EnvSubst(QHash<QString, QString> variables, const LoadLimits &limits)
    : m_vars(std::move(variables))
    , m_limits(limits)
{ }

QHash<QString, QString> EnvSubst::parseEnvFile(const QByteArray &text)
{
    QHash<QString, QString> vars;
    for (QByteArray line : text.split('\n')) {
        if (line.endsWith('\r'))
            line.chop(1);
        if (line.trimmed().startsWith('#'))
            continue;
        const qsizetype eq = line.indexOf('=');
        if (eq <= 0)
            continue;
        const QString key = QString::fromUtf8(line.left(eq)).trimmed();
        if (!key.isEmpty() && !vars.contains(key))
            vars.insert(key, QString::fromUtf8(line.mid(eq + 1)));
    }
    return vars;
}

QString EnvSubst::findEnvFileDirective(const QByteArray &rawText)
{
    bool inBlock = false;
    for (QByteArray line : rawText.split('\n')) {
        if (line.endsWith('\r'))
            line.chop(1);
        if (line.startsWith("configProperties:")) {
            inBlock = true;
            continue;
        }
        if (!inBlock)
            continue;
        const QByteArray t = line.trimmed();
        if (t.isEmpty() || t.startsWith('#'))
            continue;
        if (!(line.startsWith(' ') || line.startsWith('\t')))
            return {};
        if (t.startsWith("envFile:")) {
            QByteArray v = t.mid(8).trimmed();
            const qsizetype hash = v.indexOf(" #");
            if (hash >= 0)
                v = v.left(hash).trimmed();
            if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
                v = v.mid(1, v.size() - 2);
            return QString::fromUtf8(v);
        }
    }
    return {};
}

SourceText EnvSubst::render(const QString &file, const QByteArray &text, Diagnostics &diag)
{
    return renderFile(file, text, diag, {QFileInfo(file).absoluteFilePath()});
}

SourceText EnvSubst::renderFile(const QString &file, const QByteArray &text, Diagnostics &diag, QStringList chain)
{
    Builder b;
    int line = 1;
    b.startLine({file, 1, 0});
    const qsizetype n = text.size();
    auto nextLine = [&](int l) { return SourceText::LineOrigin {file, l, 0}; };
    auto columnOf = [&](qsizetype pos) {
        const qsizetype start = text.lastIndexOf('\n', pos - 1) + 1;
        return int(QString::fromUtf8(text.mid(start, pos - start)).size()) + 1;
    };

    qsizetype i = 0;
    while (i < n) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            b.append(QByteArray(1, '\n'), nextLine(line));
            ++i;
            continue;
        }
        if (c != '$' || i + 1 >= n) {
            // copy a run of ordinary bytes at once
            qsizetype j = i + 1;
            while (j < n && text[j] != '$' && text[j] != '\n')
                ++j;
            b.out.append(text.constData() + i, j - i);
            i = j;
            continue;
        }
        const char d = text[i + 1];
        if (d == '$') { // escape
            b.out.append('$');
            i += 2;
            continue;
        }
        if (d != '{') {
            if (!isNameChar(d) || (d == '_' && (i + 2 >= n || !isNameChar(text[i + 2])))) {
                b.out.append('$');
                ++i;
                continue;
            }
            qsizetype j = i + 1;
            while (j < n && isNameChar(text[j]))
                ++j;
            const QString name = QString::fromUtf8(text.mid(i + 1, j - i - 1));
            auto it = m_vars.constFind(name);
            if (it == m_vars.cend()) {
                diag.warning({file, line, columnOf(i)},
                             QStringLiteral("\"$%1\" is replaced by the variable %1, which is not set, so it becomes "
                                            "empty; write \"$$%1\" for a literal \"$%1\"")
                                 .arg(name));
            } else {
                b.append(it->toUtf8(), nextLine(line));
            }
            i = j;
            continue;
        }
        // "${"
        const qsizetype close = text.indexOf('}', i + 2);
        if (close < 0) {
            diag.error({file, line, columnOf(i)},
                       QStringLiteral("\"${\" is never closed with \"}\"; Nocalhost stops rendering here "
                                      "(write \"$${\" for a literal \"${\")"));
            b.append(text.mid(i), nextLine(line)); // keep positions of the rest sane for YAML errors
            SourceText st(file, {});
            st.setText(b.out, b.origins);
            return st;
        }
        qsizetype j = i + 2;
        if (j >= n || !isNameChar(text[j])) { // "${ X}" and the like stay literal
            b.out.append("${");
            i += 2;
            continue;
        }
        while (j < close && isNameChar(text[j]))
            ++j;
        const QString name = QString::fromUtf8(text.mid(i + 2, j - i - 2));
        QByteArray op;
        if (j < close) {
            if (text[j] == ':' && j + 1 < close && (text[j + 1] == '-' || text[j + 1] == '=' || text[j + 1] == '+'))
                op = text.mid(j, 2);
            else if (text[j] == '-' || text[j] == '=' || text[j] == '+')
                op = text.mid(j, 1);
        }
        const QByteArray arg = op.isEmpty() ? QByteArray() : text.mid(j + op.size(), close - j - op.size());
        const int startLine = line;
        const int startCol = columnOf(i);
        line += int(text.mid(i, close - i).count('\n'));

        const bool set = m_vars.contains(name);
        const QString value = m_vars.value(name);
        auto argValue = [&]() -> QByteArray {
            // A default that begins with $X is the variable X.
            if (arg.startsWith('$') && arg.size() > 1 && isNameChar(arg[1])) {
                qsizetype k = 1;
                while (k < arg.size() && isNameChar(arg[k]))
                    ++k;
                return m_vars.value(QString::fromUtf8(arg.mid(1, k - 1))).toUtf8();
            }
            return arg;
        };

        if (name == u"_INCLUDE_" && !set && (op == ":-" || op == "-" || op == ":=" || op == "=")) {
            // include directive
            QByteArray spec = arg;
            int indent = 0;
            QByteArray pathPart = spec;
            const qsizetype bar = spec.lastIndexOf('|');
            const bool escaped = bar > 0 && spec[bar - 1] == '\\';
            bool specOk = true;
            if (bar >= 0 && !escaped) {
                pathPart = spec.left(bar);
                const QList<QByteArray> words = spec.mid(bar + 1).simplified().split(' ');
                if (words.size() == 1 && words[0].isEmpty()) {
                    indent = 0;
                } else if (words.size() == 2 && words[0] == "nindent") {
                    bool ok = false;
                    indent = words[1].toInt(&ok);
                    if (!ok || indent < 0 || indent > 256) {
                        diag.error({file, startLine, startCol},
                                   QStringLiteral("include: the indent \"%1\" is not a whole number from 0 to 256")
                                       .arg(QString::fromUtf8(words[1])));
                        specOk = false;
                    }
                } else {
                    diag.error({file, startLine, startCol},
                               QStringLiteral("include: unsupported syntax \"%1\"; write "
                                              "${_INCLUDE_:-path} or ${_INCLUDE_:-path | nindent N}")
                                   .arg(QString::fromUtf8(spec.mid(bar + 1).trimmed())));
                    specOk = false;
                }
            }
            pathPart.replace("\\|", "|");
            const QString rel = QString::fromUtf8(pathPart.trimmed());
            const QString target = QFileInfo(rel).isAbsolute()
                ? QDir::cleanPath(rel)
                : QDir::cleanPath(QFileInfo(file).absolutePath() + u'/' + rel);
            if (specOk && !m_includesAllowed) {
                diag.error({file, startLine, startCol},
                           QStringLiteral("includes are only allowed in local config files, not in configs read from "
                                          "the cluster"));
            } else if (specOk) {
                if (chain.contains(target)) {
                    diag.error({file, startLine, startCol},
                               QStringLiteral("include cycle: %1")
                                   .arg((chain + QStringList {target}).join(QStringLiteral(" -> "))));
                } else if (chain.size() > m_limits.maxIncludeDepth) {
                    diag.error({file, startLine, startCol},
                               QStringLiteral("includes nested deeper than %1 levels").arg(m_limits.maxIncludeDepth));
                } else if (rel.isEmpty()) {
                    diag.error({file, startLine, startCol}, QStringLiteral("include: no file named"));
                } else {
                    auto bytes = readTextFile(target, m_limits);
                    if (!bytes) {
                        diag.error({file, startLine, startCol},
                                   QStringLiteral("cannot include \"%1\": %2").arg(rel, bytes.error().message));
                    } else {
                        const SourceText inc = renderFile(target, *bytes, diag, chain + QStringList {target});
                        // Content starts on a new line, each line indented `indent` spaces (Helm's nindent).
                        const QByteArray pad(indent, ' ');
                        const QList<QByteArray> lines = inc.text().split('\n');
                        for (qsizetype k = 0; k < lines.size(); ++k) {
                            SourceText::LineOrigin o = k < inc.origins().size()
                                ? inc.origins()[k]
                                : SourceText::LineOrigin {target, int(k + 1), 0};
                            o.columnShift += indent;
                            b.append(QByteArray(1, '\n'), o);
                            b.out.append(pad);
                            b.out.append(lines[k]);
                        }
                        b.append(QByteArray(1, '\n'), nextLine(line)); // what follows "}" starts a new line
                    }
                }
            }
            i = close + 1;
            continue;
        }

        QByteArray replacement;
        if (op.isEmpty()) {
            if (!set) {
                diag.warning(
                    {file, startLine, startCol},
                    QStringLiteral("\"${%1}\" refers to a variable that is not set, so it becomes empty").arg(name));
            }
            replacement = value.toUtf8();
        } else if (op == ":-" || op == ":=") {
            replacement = value.isEmpty() ? argValue() : value.toUtf8();
        } else if (op == "-" || op == "=") {
            replacement = set ? value.toUtf8() : argValue();
        } else { // "+" and ":+"
            replacement = set ? argValue() : QByteArray();
        }
        b.append(replacement, nextLine(startLine));
        i = close + 1;
    }
    SourceText st(file, {});
    st.setText(b.out, b.origins);
    return st;
}

} // namespace iterdeck::config
