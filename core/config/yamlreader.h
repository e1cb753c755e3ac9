#pragma once

#include "common/diagnostic.h"
#include "sourcetext.h"

#include <QJsonValue>
#include <QMap>
#include <QSet>
#include <QString>
#include <QStringList>

#include <functional>
#include <optional>
#include <vector>

#include <yaml-cpp/node/node.h>

namespace iterdeck::config {

// Parses every YAML document of `src`. Parser errors become positioned diagnostics
// (yaml-cpp throws; this is the one place that catches). Empty documents are kept
// as null nodes so that document indexes match the file.
bool parseYamlDocuments(const SourceText &src, std::vector<YAML::Node> &docs, Diagnostics &diag);

// State shared while checking one file: where positions map to, where problems go,
// and a budget of nodes so that alias bombs stay cheap.
class ReadContext
{
public:
    ReadContext(const SourceText &src, Diagnostics &diag, const LoadLimits &limits = {});

    SourceLocation at(const YAML::Node &node) const;
    void error(const YAML::Node &node, const QString &message);
    void warning(const YAML::Node &node, const QString &message);
    void error(const SourceLocation &where, const QString &message);
    void warning(const SourceLocation &where, const QString &message);
    Diagnostics &diagnostics() { return m_diag; }
    const SourceText &source() const { return m_src; }

    // Counts one visited node; false (with one error, reported once) when the budget is spent.
    bool spend(const YAML::Node &node);
    bool exhausted() const { return m_exhausted; }

    // Converts any node to JSON (maps with non-scalar keys are stringified), within the budget.
    QJsonValue toJson(const YAML::Node &node);

private:
    const SourceText &m_src;
    Diagnostics &m_diag;
    LoadLimits m_limits;
    int m_spent = 0;
    bool m_exhausted = false;
};

// Readable names of YAML node kinds for messages: "a mapping", "a list", "a string", ...
QString describeNode(const YAML::Node &node);

// Reads the keys of one YAML mapping. Each accessor marks its key as known; finish()
// reports every key that no accessor asked for, with a "did you mean" when one is close.
// Accessors report type errors and return false without touching `out`.
class MapReader
{
public:
    enum class UnknownKeys { Error, Warning, Ignore };

    // `node` may be null (absent): then every accessor sees a missing key. `path` names
    // the mapping in messages ("components[2].deploy"); empty at the top level.
    MapReader(ReadContext &ctx, const YAML::Node &node, QString path, UnknownKeys unknown = UnknownKeys::Error);

    bool isMapping() const { return m_isMap; }
    bool has(const char *key) const;
    // The value node, or an invalid node when absent. Marks the key as known.
    YAML::Node take(const char *key);
    // Marks a key as known without reading it.
    void accept(const char *key);
    // Location of the key itself (for "missing"/"unknown" messages), or of the mapping.
    SourceLocation keyLocation(const char *key) const;
    SourceLocation location() const;
    QString pathOf(const char *key) const;

    bool string(const char *key, QString &out, bool required = false);
    bool boolean(const char *key, bool &out);
    bool integer(const char *key, qint64 &out, qint64 min, qint64 max);
    // A list of strings; a single string is accepted as a one-element list when `allowScalar`.
    bool stringList(const char *key, QStringList &out, bool allowScalar = false);
    // A string that must be one of `allowed` (case-sensitive unless `caseInsensitive`);
    // stores the canonical spelling from `allowed`.
    bool choice(const char *key, QString &out, const QStringList &allowed, bool caseInsensitive = false);
    // Calls `each(item, path)` for each element of a list.
    bool list(const char *key, const std::function<void(const YAML::Node &, const QString &)> &each);
    // Checks the key is a mapping and hands a reader for it to `fn`.
    bool mapping(const char *key, const std::function<void(MapReader &)> &fn, UnknownKeys unknown);
    bool mapping(const char *key, const std::function<void(MapReader &)> &fn) { return mapping(key, fn, m_unknown); }

    void missing(const char *key);
    // Reports keys never asked for. Call once, after the accessors.
    void finish();

    QStringList keys() const { return m_order; }
    ReadContext &context() { return m_ctx; }
    const YAML::Node &node() const { return m_node; }

private:
    ReadContext &m_ctx;
    YAML::Node m_node;
    QString m_path;
    UnknownKeys m_unknown;
    bool m_isMap = false;
    QStringList m_order; // keys in file order
    QMap<QString, std::pair<YAML::Node, YAML::Node>> m_entries; // key -> (key node, value node)
    QSet<QString> m_known;
    QStringList m_expected; // every key an accessor asked about
};

// Scalar helpers usable on any node.
std::optional<QString> scalarString(const YAML::Node &node);
bool isNullNode(const YAML::Node &node);
bool isPlainNull(const YAML::Node &node);

} // namespace iterdeck::config
