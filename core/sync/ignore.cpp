#include "sync/ignore.h"

#include "sync/glob.h"

#include <optional>

namespace iterdeck::sync {

namespace {

// Nocalhost's adaptation of one pattern (internal/nhctl/syncthing/syncthing.go).
std::string adapt(const std::string &pattern)
{
    if (pattern == ".")
        return "**";
    if (pattern.starts_with("./"))
        return pattern.substr(1);
    return pattern;
}

std::string_view trimSpace(std::string_view s)
{
    constexpr std::string_view space = " \t\r\n\v\f";
    const auto begin = s.find_first_not_of(space);
    if (begin == std::string_view::npos)
        return {};
    return s.substr(begin, s.find_last_not_of(space) - begin + 1);
}

// One compiled .stignore pattern; a line expands to up to four of them, as in syncthing.
struct Rule
{
    Glob glob;
    std::optional<Glob> coverPrefix; // for "X/**": X, so that matching X covers a whole subtree
    bool include = false;
    bool foldCase = false;
};

class PatternRules final : public IgnoreRules
{
public:
    // Parses one .stignore line (syncthing lib/ignore parseIgnoreFile + parseLine).
    bool addLine(std::string_view rawLine, std::string *error)
    {
        const std::string_view line = trimSpace(rawLine);
        if (line.empty() || line.starts_with("//"))
            return true;
        if (line.starts_with("#include"))
            return fail(error, "#include is not supported");
        const std::string text(line);
        if (line.ends_with("/**"))
            return addPattern(text, error);
        if (line.ends_with('/'))
            return addPattern(text + "**", error);
        return addPattern(text, error) && addPattern(text + "/**", error);
    }

    bool pathsAlone() const override { return true; }
    bool isIgnored(std::string_view relPath, bool isDir) const override
    {
        std::string folded;
        if (m_anyFoldCase)
            folded = foldCase(relPath);
        auto subject = [&](const Rule &rule) { return rule.foldCase ? std::string_view(folded) : relPath; };

        const Rule *first = nullptr;
        for (const Rule &rule : m_rules) {
            if (rule.glob.matches(subject(rule))) {
                first = &rule;
                break;
            }
        }
        if (!first || first->include)
            return false;
        if (!isDir)
            return true;

        // Syncthing descends into an ignored directory when a later "!" line might match below
        // it, and then syncs the directory together with what it keeps there. Here such a
        // directory is not ignored (so the caller descends): it is synced even when nothing below
        // it turns out to be kept. It stays ignored when an earlier ignore line covers its whole
        // subtree ("build" expands to "build/**"), which is what makes the common
        // `ignoreFilePattern: ["./build"]` + `filePattern: ["."]` skip build/ entirely.
        for (const Rule &rule : m_rules) {
            const std::string_view path = subject(rule);
            if (!rule.include) {
                if (coversSubtree(rule, path))
                    return true;
            } else if (rule.glob.couldMatchBelow(path)) {
                return false;
            }
        }
        return true;
    }

private:
    static bool fail(std::string *error, const char *message)
    {
        *error = message;
        return false;
    }

    bool addPattern(std::string line, std::string *error)
    {
        Rule rule;
        bool seenNot = false, seenFold = false, seenDelete = false;
        while (true) {
            if (!seenNot && line.starts_with('!')) {
                seenNot = true;
                rule.include = true;
                line.erase(0, 1);
            } else if (!seenFold && line.starts_with("(?i)")) {
                seenFold = true;
                rule.foldCase = true;
                line.erase(0, 4);
            } else if (!seenDelete && line.starts_with("(?d)")) {
                // Deletable: only matters to syncthing when removing directories.
                seenDelete = true;
                line.erase(0, 4);
            } else {
                break;
            }
        }
        if (line.empty())
            return fail(error, "missing pattern");
        if (rule.foldCase) {
            line = foldCase(line);
            m_anyFoldCase = true;
        }
        if (line.starts_with('/'))
            return addGlob(rule, line.substr(1), error);
        if (line.starts_with("**/"))
            return addGlob(rule, line, error) && addGlob(rule, line.substr(3), error);
        return addGlob(rule, line, error) && addGlob(rule, "**/" + line, error);
    }

    bool addGlob(const Rule &base, const std::string &pattern, std::string *error)
    {
        Rule rule {Glob {}, std::nullopt, base.include, base.foldCase};
        if (!rule.glob.compile(pattern, error))
            return false;
        if (pattern.size() > 3 && pattern.ends_with("/**")) {
            rule.coverPrefix.emplace();
            if (!rule.coverPrefix->compile(std::string_view(pattern).substr(0, pattern.size() - 3), nullptr))
                rule.coverPrefix.reset();
        }
        m_rules.push_back(std::move(rule));
        return true;
    }

    // True when `rule` matches every path strictly below the directory `dir`.
    static bool coversSubtree(const Rule &rule, std::string_view dir)
    {
        if (rule.glob.matchesEverything())
            return true;
        if (!rule.coverPrefix)
            return false;
        for (std::size_t end = 0; end != std::string_view::npos; end = dir.find('/', end + 1)) {
            if (end > 0 && rule.coverPrefix->matches(dir.substr(0, end)))
                return true;
        }
        return rule.coverPrefix->matches(dir);
    }

    std::vector<Rule> m_rules;
    bool m_anyFoldCase = false;
};

} // namespace

std::vector<std::string> nocalhostIgnoreLines(const std::vector<std::string> &filePatterns,
                                              const std::vector<std::string> &ignoreFilePatterns)
{
    std::vector<std::string> lines;
    lines.reserve(ignoreFilePatterns.size() + filePatterns.size() + 2);
    for (const std::string &pattern : ignoreFilePatterns)
        lines.push_back(adapt(pattern));
    for (const std::string &pattern : filePatterns)
        lines.push_back("!" + adapt(pattern));
    if (filePatterns.empty())
        lines.emplace_back("!**");
    lines.emplace_back("**");
    return lines;
}

std::unique_ptr<IgnoreRules> makePatternRules(const std::vector<std::string> &filePatterns,
                                              const std::vector<std::string> &ignoreFilePatterns, bool syncGit,
                                              std::string *error)
{
    auto rules = std::make_unique<PatternRules>();
    std::string message;
    if (!syncGit)
        rules->addLine(".git", &message);
    auto addAll = [&](const std::vector<std::string> &patterns, const char *field, bool negate) {
        for (const std::string &pattern : patterns) {
            const std::string line = (negate ? "!" : "") + adapt(pattern);
            if (!rules->addLine(line, &message)) {
                if (error)
                    *error = std::string(field) + " \"" + pattern + "\": " + message;
                return false;
            }
        }
        return true;
    };
    if (!addAll(ignoreFilePatterns, "ignoreFilePattern", false) || !addAll(filePatterns, "filePattern", true))
        return nullptr;
    if (filePatterns.empty())
        rules->addLine("!**", &message);
    rules->addLine("**", &message);
    return rules;
}

} // namespace iterdeck::sync
