#include "yamlreader.h"

#include "common/textutil.h"

#include <QJsonArray>
#include <QJsonObject>

#include <cstring>
#include <sstream>

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/yaml.h>

#include <yaml.h>

namespace iterdeck::config {

namespace {

QString fromStd(const std::string &s)
{
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

// yaml-cpp messages are "yaml-cpp: error at line L, column C: what": keep only "what".
QString parserMessage(const YAML::Exception &e)
{
    QString msg = fromStd(e.msg);
    if (msg.isEmpty())
        msg = QStringLiteral("invalid YAML");
    return u"invalid YAML: " + msg;
}

} // namespace

// yaml-cpp 0.7 can loop forever, allocating without bound, on some invalid input (found by
// fuzzing, e.g. a ',' where a block node should start: tests/fuzz/regressions). libyaml, whose
// parser is a non-recursive state machine fuzzed for years, checks the syntax first; yaml-cpp
// only ever sees text libyaml accepted. Returns false with a positioned error otherwise.
static bool checkSyntax(const SourceText &src, Diagnostics &diag)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        diag.error(src.fileStart(), QStringLiteral("cannot parse YAML: out of memory"));
        return false;
    }
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char *>(src.text().constData()),
                                 size_t(src.text().size()));
    bool ok = true;
    for (;;) {
        yaml_event_t event;
        if (!yaml_parser_parse(&parser, &event)) {
            const yaml_mark_t mark = parser.problem_mark;
            QString msg = QString::fromUtf8(parser.problem ? parser.problem : "syntax error");
            if (parser.context) {
                msg += QStringLiteral(" (") + QString::fromUtf8(parser.context);
                if (parser.context_mark.line != mark.line || parser.context_mark.column != mark.column)
                    msg += QStringLiteral(" at line %1").arg(parser.context_mark.line + 1);
                msg += u')';
            }
            // Say it plainly for the classic mistake: a tab in the indentation.
            const QList<QByteArray> lines = src.text().split('\n');
            int line = int(mark.line);
            int column = int(mark.column);
            for (int l = std::max(0, line - 1); l <= line && l < lines.size(); ++l) {
                if (lines[l].startsWith('\t')) {
                    msg += QStringLiteral("; this line is indented with a tab, and YAML indentation must be spaces");
                    line = l;
                    column = 0;
                    break;
                }
            }
            diag.error(src.locate(line, column), u"invalid YAML: " + msg);
            ok = false;
            break;
        }
        const bool end = event.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&event);
        if (end)
            break;
    }
    yaml_parser_delete(&parser);
    return ok;
}

// libyaml ends an anchor or alias name at the first character that is not a letter, digit, '-' or
// '_'; yaml-cpp 0.7 only at a blank or one of ",[]{}". Where they disagree ("&a?,", found by
// fuzz_kubeconfig) yaml-cpp can loop forever on text libyaml accepted, so a name must be followed by
// what both read as its end. Runs libyaml's scanner over text its parser accepted.
static bool checkAnchorNames(const SourceText &src, Diagnostics &diag)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        diag.error(src.fileStart(), QStringLiteral("cannot parse YAML: out of memory"));
        return false;
    }
    const QByteArray &text = src.text();
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char *>(text.constData()),
                                 size_t(text.size()));
    bool ok = true;
    for (;;) {
        yaml_token_t token;
        if (!yaml_parser_scan(&parser, &token))
            break; // the parser pass already reported syntax errors
        const yaml_token_type_t type = token.type;
        if (type == YAML_ANCHOR_TOKEN || type == YAML_ALIAS_TOKEN) {
            const size_t end = token.end_mark.index;
            const char next = end < size_t(text.size()) ? text[qsizetype(end)] : ' ';
            if (!std::strchr(" \t\r\n,[]{}", next) || next == '\0') {
                const QByteArray name
                    = text.mid(qsizetype(token.start_mark.index), qsizetype(end - token.start_mark.index));
                diag.error(
                    src.locate(int(token.end_mark.line), int(token.end_mark.column)),
                    QStringLiteral("invalid YAML: %1 \"%2\" must be followed by a space or a line break, "
                                   "not '%3'")
                        .arg(type == YAML_ANCHOR_TOKEN ? QStringLiteral("the anchor") : QStringLiteral("the alias"),
                             QString::fromUtf8(name), QString::fromUtf8(&next, 1)));
                ok = false;
            }
        }
        // yaml-cpp 0.7 loops forever, allocating, on a multi-line plain scalar with a property
        // (a tag or an anchor) whose continuation line starts with "? " or "," ("! p\n?\n" and
        // "! p\nq\n,", found by fuzz_deploy_templates); libyaml reads "p ?". Such a line is
        // almost surely a mistake: refuse it, with or without a property.
        if (ok && type == YAML_SCALAR_TOKEN && token.data.scalar.style == YAML_PLAIN_SCALAR_STYLE
            && token.end_mark.line > token.start_mark.line) {
            qsizetype i = qsizetype(token.start_mark.index);
            const qsizetype end = std::min(qsizetype(token.end_mark.index), text.size());
            size_t line = token.start_mark.line;
            while (ok && i < end) {
                if (text[i++] != '\n')
                    continue;
                ++line;
                qsizetype j = i;
                while (j < end && (text[j] == ' ' || text[j] == '\t'))
                    ++j;
                const char next = j + 1 < text.size() ? text[j + 1] : '\n';
                const bool question
                    = j < end && text[j] == '?' && (next == ' ' || next == '\t' || next == '\n' || next == '\r');
                const bool comma = j < end && text[j] == ',';
                if (question || comma) {
                    diag.error(src.locate(int(line), int(j - i)),
                               QStringLiteral("invalid YAML: a line starting with \"%1\" inside a plain value that "
                                              "began on an earlier line; quote the value")
                                   .arg(question ? QStringLiteral("? ") : QStringLiteral(",")));
                    ok = false;
                }
            }
        }
        yaml_token_delete(&token);
        if (!ok || type == YAML_STREAM_END_TOKEN)
            break;
    }
    yaml_parser_delete(&parser);
    return ok;
}

// libyaml's time grows with the square of the flow nesting depth (20000 '[' take seconds).
// Config files nest a few levels; refuse absurd depth before any parser runs. Brackets are
// counted everywhere, quotes and comments included: that can only over-count, never let a
// deep input through. Returns the 0-based line and column of the bracket too deep, or -1.
static std::pair<int, int> findExcessiveNesting(const QByteArray &text, int maxDepth)
{
    int depth = 0;
    int line = 0;
    qsizetype lineStart = 0;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            ++line;
            lineStart = i + 1;
        } else if (c == '[' || c == '{') {
            if (++depth > maxDepth)
                return {line, int(i - lineStart)};
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return {-1, -1};
}

bool parseYamlDocuments(const SourceText &src, std::vector<YAML::Node> &docs, Diagnostics &diag)
{
    constexpr int maxFlowDepth = 100;
    if (const auto [line, col] = findExcessiveNesting(src.text(), maxFlowDepth); line >= 0) {
        diag.error(src.locate(line, col),
                   QStringLiteral("nesting deeper than %1 levels; this is not a config file").arg(maxFlowDepth));
        return false;
    }
    if (!checkSyntax(src, diag) || !checkAnchorNames(src, diag))
        return false;
    const std::string text(src.text().constData(), size_t(src.text().size()));
    try {
        std::vector<YAML::Node> all = YAML::LoadAll(text);
        docs = std::move(all);
        return true;
    } catch (const YAML::DeepRecursion &e) {
        diag.error(src.locate(e.mark.line, e.mark.column),
                   QStringLiteral("nesting deeper than %1 levels; this is not a config file").arg(e.depth()));
    } catch (const YAML::Exception &e) {
        QString msg = parserMessage(e);
        // yaml-cpp's messages say little about the two classic mistakes: say it for them.
        const QList<QByteArray> lines = src.text().split('\n');
        for (int l = std::max(0, e.mark.line - 1); l <= e.mark.line && l < lines.size(); ++l) {
            if (lines[l].startsWith('\t')) {
                diag.error(src.locate(l, 0),
                           msg
                               + QStringLiteral(" (this line is indented with a tab; YAML indentation "
                                                "must be spaces)"));
                return false;
            }
        }
        diag.error(src.locate(e.mark.line, e.mark.column), msg);
    } catch (const std::exception &e) {
        diag.error(src.fileStart(), u"cannot parse YAML: " + QString::fromUtf8(e.what()));
    }
    return false;
}

ReadContext::ReadContext(const SourceText &src, Diagnostics &diag, const LoadLimits &limits)
    : m_src(src)
    , m_diag(diag)
    , m_limits(limits)
{ }

SourceLocation ReadContext::at(const YAML::Node &node) const
{
    if (!node.IsDefined())
        return {m_src.primaryFile(), 0, 0};
    const YAML::Mark m = node.Mark();
    if (m.is_null())
        return {m_src.primaryFile(), 0, 0};
    return m_src.locate(m.line, m.column);
}

void ReadContext::error(const YAML::Node &node, const QString &message)
{
    m_diag.error(at(node), message);
}

void ReadContext::warning(const YAML::Node &node, const QString &message)
{
    m_diag.warning(at(node), message);
}

void ReadContext::error(const SourceLocation &where, const QString &message)
{
    m_diag.error(where, message);
}

void ReadContext::warning(const SourceLocation &where, const QString &message)
{
    m_diag.warning(where, message);
}

bool ReadContext::spend(const YAML::Node &node)
{
    if (m_exhausted)
        return false;
    if (++m_spent <= m_limits.maxNodes)
        return true;
    m_exhausted = true;
    error(node,
          QStringLiteral("document too large: more than %1 nodes once aliases are expanded "
                         "(an alias bomb?); stopped reading here")
              .arg(m_limits.maxNodes));
    return false;
}

QJsonValue ReadContext::toJson(const YAML::Node &node)
{
    if (!spend(node))
        return {};
    switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
        return QJsonValue::Null;
    case YAML::NodeType::Scalar: {
        const QString s = fromStd(node.Scalar());
        if (node.Tag() == "!") // quoted: always a string
            return s;
        if (s == u"true" || s == u"True" || s == u"TRUE")
            return true;
        if (s == u"false" || s == u"False" || s == u"FALSE")
            return false;
        bool ok = false;
        const qint64 i = s.toLongLong(&ok);
        if (ok && i > -(qint64(1) << 53) && i < (qint64(1) << 53))
            return double(i);
        const double d = s.toDouble(&ok);
        if (ok && !s.isEmpty() && (s[0].isDigit() || s[0] == u'-' || s[0] == u'.'))
            return d;
        return s;
    }
    case YAML::NodeType::Sequence: {
        QJsonArray arr;
        for (const YAML::Node &item : node) {
            if (m_exhausted)
                break;
            arr.append(toJson(item));
        }
        return arr;
    }
    case YAML::NodeType::Map: {
        QJsonObject obj;
        for (const auto &kv : node) {
            if (m_exhausted)
                break;
            const auto key = scalarString(kv.first);
            obj.insert(key ? *key : QStringLiteral("<complex key>"), toJson(kv.second));
        }
        return obj;
    }
    }
    return {};
}

QString describeNode(const YAML::Node &node)
{
    if (!node.IsDefined() || node.IsNull())
        return QStringLiteral("nothing (null)");
    if (node.IsSequence())
        return QStringLiteral("a list");
    if (node.IsMap())
        return QStringLiteral("a mapping");
    return u"the scalar \"" + fromStd(node.Scalar()).left(40) + u'"';
}

std::optional<QString> scalarString(const YAML::Node &node)
{
    if (!node.IsDefined() || !node.IsScalar())
        return std::nullopt;
    return fromStd(node.Scalar());
}

bool isPlainNull(const YAML::Node &node)
{
    return !node.IsDefined() || node.IsNull();
}

bool isNullNode(const YAML::Node &node)
{
    if (isPlainNull(node))
        return true;
    if (node.IsScalar() && node.Tag() != "!") {
        const std::string &s = node.Scalar();
        return s == "~" || s == "null" || s == "Null" || s == "NULL";
    }
    return false;
}

MapReader::MapReader(ReadContext &ctx, const YAML::Node &node, QString path, UnknownKeys unknown)
    : m_ctx(ctx)
    , m_node(node)
    , m_path(std::move(path))
    , m_unknown(unknown)
{
    m_isMap = node.IsDefined() && node.IsMap();
    if (!m_isMap)
        return;
    for (const auto &kv : node) {
        if (!m_ctx.spend(kv.first))
            break;
        const auto key = scalarString(kv.first);
        if (!key) {
            m_ctx.error(kv.first, QStringLiteral("a key must be a plain string, not %1").arg(describeNode(kv.first)));
            continue;
        }
        if (m_entries.contains(*key)) {
            m_ctx.error(kv.first,
                        QStringLiteral("duplicate key \"%1\"%2 (first given on line %3)")
                            .arg(*key, m_path.isEmpty() ? QString() : u" in " + m_path)
                            .arg(m_ctx.at(m_entries[*key].first).line));
            continue;
        }
        m_order.append(*key);
        m_entries.insert(*key, {kv.first, kv.second});
    }
}

bool MapReader::has(const char *key) const
{
    return m_entries.contains(QString::fromLatin1(key));
}

YAML::Node MapReader::take(const char *key)
{
    const QString k = QString::fromLatin1(key);
    if (!m_expected.contains(k))
        m_expected.append(k);
    auto it = m_entries.constFind(k);
    if (it == m_entries.cend())
        return YAML::Node(YAML::NodeType::Undefined);
    m_known.insert(k);
    return it->second;
}

void MapReader::accept(const char *key)
{
    take(key);
}

SourceLocation MapReader::keyLocation(const char *key) const
{
    auto it = m_entries.constFind(QString::fromLatin1(key));
    if (it != m_entries.cend())
        return m_ctx.at(it->first);
    return location();
}

SourceLocation MapReader::location() const
{
    SourceLocation loc = m_ctx.at(m_node);
    if (!loc.isValid())
        loc = m_ctx.source().fileStart();
    return loc;
}

QString MapReader::pathOf(const char *key) const
{
    return m_path.isEmpty() ? QString::fromLatin1(key) : m_path + u'.' + QString::fromLatin1(key);
}

void MapReader::missing(const char *key)
{
    m_ctx.error(location(),
                QStringLiteral("missing required key \"%1\"%2")
                    .arg(QString::fromLatin1(key), m_path.isEmpty() ? QString() : u" in " + m_path));
}

static SourceLocation valueLocation(ReadContext &ctx, const YAML::Node &value, const SourceLocation &keyLoc)
{
    const SourceLocation loc = ctx.at(value);
    return loc.isValid() ? loc : keyLoc;
}

bool MapReader::string(const char *key, QString &out, bool required)
{
    const YAML::Node v = take(key);
    if (!v.IsDefined() || isPlainNull(v)) {
        if (required)
            v.IsDefined() ? m_ctx.error(keyLocation(key), QStringLiteral("\"%1\" must not be empty").arg(pathOf(key)))
                          : missing(key);
        return !required;
    }
    if (!v.IsScalar()) {
        m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                    QStringLiteral("\"%1\" must be a string, not %2").arg(pathOf(key), describeNode(v)));
        return false;
    }
    out = fromStd(v.Scalar());
    if (required && out.isEmpty()) {
        m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                    QStringLiteral("\"%1\" must not be empty").arg(pathOf(key)));
        return false;
    }
    return true;
}

bool MapReader::boolean(const char *key, bool &out)
{
    const YAML::Node v = take(key);
    if (isPlainNull(v))
        return true;
    const auto s = scalarString(v);
    if (s) {
        const QString l = s->toLower();
        if (l == u"true" || l == u"yes" || l == u"on") {
            out = true;
            return true;
        }
        if (l == u"false" || l == u"no" || l == u"off") {
            out = false;
            return true;
        }
    }
    m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                QStringLiteral("\"%1\" must be true or false, not %2").arg(pathOf(key), describeNode(v)));
    return false;
}

bool MapReader::integer(const char *key, qint64 &out, qint64 min, qint64 max)
{
    const YAML::Node v = take(key);
    if (isPlainNull(v))
        return true;
    const auto s = scalarString(v);
    bool ok = false;
    qint64 value = 0;
    if (s)
        value = s->trimmed().toLongLong(&ok);
    if (!ok) {
        m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                    QStringLiteral("\"%1\" must be a whole number, not %2").arg(pathOf(key), describeNode(v)));
        return false;
    }
    if (value < min || value > max) {
        m_ctx.error(
            valueLocation(m_ctx, v, keyLocation(key)),
            QStringLiteral("\"%1\" must be between %2 and %3, not %4").arg(pathOf(key)).arg(min).arg(max).arg(value));
        return false;
    }
    out = value;
    return true;
}

bool MapReader::stringList(const char *key, QStringList &out, bool allowScalar)
{
    const YAML::Node v = take(key);
    if (isPlainNull(v))
        return true;
    if (v.IsScalar() && allowScalar) {
        out = {fromStd(v.Scalar())};
        return true;
    }
    if (!v.IsSequence()) {
        m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                    QStringLiteral("\"%1\" must be a list of strings, not %2").arg(pathOf(key), describeNode(v)));
        return false;
    }
    QStringList result;
    bool ok = true;
    int i = 0;
    for (const YAML::Node &item : v) {
        if (!m_ctx.spend(item))
            return false;
        const auto s = scalarString(item);
        if (!s) {
            m_ctx.error(
                valueLocation(m_ctx, item, keyLocation(key)),
                QStringLiteral("\"%1[%2]\" must be a string, not %3").arg(pathOf(key)).arg(i).arg(describeNode(item)));
            ok = false;
        } else {
            result.append(*s);
        }
        ++i;
    }
    if (ok)
        out = result;
    return ok;
}

bool MapReader::choice(const char *key, QString &out, const QStringList &allowed, bool caseInsensitive)
{
    QString s;
    const YAML::Node v = m_entries.value(QString::fromLatin1(key)).second;
    if (!string(key, s))
        return false;
    if (!v.IsDefined() || isPlainNull(v) || s.isEmpty())
        return true; // an empty value means "not set", as in Nocalhost
    for (const QString &a : allowed) {
        if (a.compare(s, caseInsensitive ? Qt::CaseInsensitive : Qt::CaseSensitive) == 0) {
            out = a;
            return true;
        }
    }
    m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                QStringLiteral("\"%1\" must be %2, not \"%3\"%4")
                    .arg(pathOf(key), text::quotedList(allowed), s, text::didYouMeanSuffix(s, allowed)));
    return false;
}

bool MapReader::list(const char *key, const std::function<void(const YAML::Node &, const QString &)> &each)
{
    const YAML::Node v = take(key);
    if (isPlainNull(v))
        return true;
    if (!v.IsSequence()) {
        m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                    QStringLiteral("\"%1\" must be a list, not %2").arg(pathOf(key), describeNode(v)));
        return false;
    }
    int i = 0;
    for (const YAML::Node &item : v) {
        if (!m_ctx.spend(item))
            return false;
        each(item, pathOf(key) + u'[' + QString::number(i) + u']');
        ++i;
    }
    return true;
}

bool MapReader::mapping(const char *key, const std::function<void(MapReader &)> &fn, UnknownKeys unknown)
{
    const YAML::Node v = take(key);
    if (isPlainNull(v))
        return true;
    if (!v.IsMap()) {
        m_ctx.error(valueLocation(m_ctx, v, keyLocation(key)),
                    QStringLiteral("\"%1\" must be a mapping, not %2").arg(pathOf(key), describeNode(v)));
        return false;
    }
    if (!m_ctx.spend(v))
        return false;
    MapReader sub(m_ctx, v, pathOf(key), unknown);
    fn(sub);
    sub.finish();
    return true;
}

void MapReader::finish()
{
    if (m_unknown == UnknownKeys::Ignore)
        return;
    for (const QString &k : std::as_const(m_order)) {
        if (m_known.contains(k))
            continue;
        const QString where = m_path.isEmpty() ? QString() : u" in " + m_path;
        const QString msg
            = QStringLiteral("unknown key \"%1\"%2%3").arg(k, where, text::didYouMeanSuffix(k, m_expected));
        if (m_unknown == UnknownKeys::Error)
            m_ctx.error(m_entries[k].first, msg);
        else
            m_ctx.warning(m_entries[k].first, msg + QStringLiteral(" (ignored)"));
    }
}

} // namespace iterdeck::config
