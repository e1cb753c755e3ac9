// gitIgnore mode: git's own rules (dir.c, wildmatch.c), re-implemented so that the answers
// agree with `git check-ignore`, byte for byte.

#include "sync/ignore.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <unordered_map>

namespace iterdeck::sync {

namespace {

enum class Wild { Match, NoMatch, AbortAll, AbortToDoubleStar };

bool isGlobSpecial(char c)
{
    return c == '*' || c == '?' || c == '[' || c == '\\';
}

bool inNamedClass(std::string_view name, unsigned char c, bool *known)
{
    *known = true;
    const bool upper = c >= 'A' && c <= 'Z';
    const bool lower = c >= 'a' && c <= 'z';
    const bool digit = c >= '0' && c <= '9';
    const bool print = c >= 0x20 && c <= 0x7E;
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (name == "alnum")
        return upper || lower || digit;
    if (name == "alpha")
        return upper || lower;
    if (name == "blank")
        return c == ' ' || c == '\t';
    if (name == "cntrl")
        return c < 0x20 || c == 0x7F;
    if (name == "digit")
        return digit;
    if (name == "graph")
        return print && c != ' ';
    if (name == "lower")
        return lower;
    if (name == "print")
        return print;
    if (name == "punct")
        return print && !upper && !lower && !digit && c != ' ';
    if (name == "space")
        return space;
    if (name == "upper")
        return upper;
    if (name == "xdigit")
        return digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    *known = false;
    return false;
}

// git's wildmatch: `pathname` is WM_PATHNAME ("*", "?" and "[...]" never match '/'; "**" between
// slashes crosses them). `start` is where this (recursive) match began: a "**" directly after it
// counts as preceded by a slash, as in git.
Wild wildmatch(std::string_view p, std::size_t pi, std::string_view t, std::size_t ti, bool pathname)
{
    const std::size_t start = pi;
    for (; pi < p.size(); ++pi, ++ti) {
        const char pc = p[pi];
        if (ti >= t.size() && pc != '*')
            return Wild::AbortAll;
        const char tc = ti < t.size() ? t[ti] : '\0';
        switch (pc) {
        case '\\':
            ++pi;
            if (pi >= p.size() || p[pi] != tc)
                return Wild::NoMatch;
            break;
        case '?':
            if (pathname && tc == '/')
                return Wild::NoMatch;
            break;
        case '*': {
            std::size_t q = pi + 1;
            bool matchSlash = !pathname;
            if (q < p.size() && p[q] == '*') {
                while (q < p.size() && p[q] == '*')
                    ++q;
                const bool slashBefore = pi == start || p[pi - 1] == '/';
                const bool slashAfter
                    = q == p.size() || p[q] == '/' || (p[q] == '\\' && q + 1 < p.size() && p[q + 1] == '/');
                matchSlash = slashBefore && slashAfter;
                // "**/" may also match no directory at all.
                if (matchSlash && q < p.size() && p[q] == '/' && wildmatch(p, q + 1, t, ti, pathname) == Wild::Match)
                    return Wild::Match;
            }
            if (q == p.size()) {
                if (!matchSlash && t.find('/', ti) != std::string_view::npos)
                    return Wild::NoMatch;
                return Wild::Match;
            }
            if (!matchSlash && p[q] == '/') {
                // One "*" before a slash: the rest of this path component.
                const std::size_t slash = t.find('/', ti);
                if (slash == std::string_view::npos)
                    return Wild::NoMatch;
                ti = slash;
                pi = q;
                break;
            }
            while (ti < t.size()) {
                if (!isGlobSpecial(p[q])) {
                    // Skip ahead to the next place the following literal occurs.
                    while (ti < t.size() && (matchSlash || t[ti] != '/') && t[ti] != p[q])
                        ++ti;
                    if (ti >= t.size() || t[ti] != p[q])
                        return Wild::NoMatch;
                }
                const Wild result = wildmatch(p, q, t, ti, pathname);
                if (result != Wild::NoMatch) {
                    if (!matchSlash || result != Wild::AbortToDoubleStar)
                        return result;
                } else if (!matchSlash && t[ti] == '/') {
                    return Wild::AbortToDoubleStar;
                }
                ++ti;
            }
            return Wild::AbortAll;
        }
        case '[': {
            if (pathname && tc == '/')
                return Wild::NoMatch;
            ++pi;
            if (pi >= p.size())
                return Wild::AbortAll;
            bool negated = false;
            if (p[pi] == '!' || p[pi] == '^') {
                negated = true;
                ++pi;
            }
            const auto utc = static_cast<unsigned char>(tc);
            unsigned char prev = 0;
            bool matched = false;
            while (true) {
                if (pi >= p.size())
                    return Wild::AbortAll;
                auto c = static_cast<unsigned char>(p[pi]);
                if (c == '\\') {
                    ++pi;
                    if (pi >= p.size())
                        return Wild::AbortAll;
                    c = static_cast<unsigned char>(p[pi]);
                    if (utc == c)
                        matched = true;
                } else if (c == '-' && prev && pi + 1 < p.size() && p[pi + 1] != ']') {
                    ++pi;
                    c = static_cast<unsigned char>(p[pi]);
                    if (c == '\\') {
                        ++pi;
                        if (pi >= p.size())
                            return Wild::AbortAll;
                        c = static_cast<unsigned char>(p[pi]);
                    }
                    if (utc <= c && utc >= prev)
                        matched = true;
                    c = 0;
                } else if (c == '[' && pi + 1 < p.size() && p[pi + 1] == ':') {
                    const std::size_t nameStart = pi + 2;
                    std::size_t end = nameStart;
                    while (end < p.size() && p[end] != ']')
                        ++end;
                    if (end >= p.size())
                        return Wild::AbortAll;
                    if (end == nameStart || p[end - 1] != ':') {
                        // No ":]": a plain '['.
                        if (utc == '[')
                            matched = true;
                    } else {
                        bool known = false;
                        if (inNamedClass(p.substr(nameStart, end - nameStart - 1), utc, &known))
                            matched = true;
                        if (!known)
                            return Wild::AbortAll;
                        pi = end;
                        c = 0;
                    }
                } else if (utc == c) {
                    matched = true;
                }
                prev = c;
                ++pi;
                if (pi < p.size() && p[pi] == ']')
                    break;
            }
            if (matched == negated || (pathname && tc == '/'))
                return Wild::NoMatch;
            break;
        }
        default:
            if (tc != pc)
                return Wild::NoMatch;
        }
    }
    return ti >= t.size() ? Wild::Match : Wild::NoMatch;
}

bool wildmatches(std::string_view pattern, std::string_view text, bool pathname)
{
    return wildmatch(pattern, 0, text, 0, pathname) == Wild::Match;
}

// One line of a .gitignore (dir.c parse_path_pattern), relative to the directory holding it.
struct GitPattern
{
    std::string pattern; // without the leading "!" and the trailing "/"
    std::size_t literalPrefix = 0; // bytes before the first wildcard
    bool negative = false;
    bool mustBeDir = false;
    bool basenameOnly = false; // no '/' in it: matches the name at any depth
    bool endsWith = false; // "*literal"

    bool matches(std::string_view relPath, std::string_view basename, bool isDir) const
    {
        if (mustBeDir && !isDir)
            return false;
        if (basenameOnly) {
            if (literalPrefix == pattern.size())
                return basename == pattern;
            if (endsWith)
                return basename.ends_with(std::string_view(pattern).substr(1));
            return wildmatches(pattern, basename, false);
        }
        // dir.c match_pathname: one leading '/' is dropped, the literal prefix compared first.
        std::string_view pat = pattern;
        std::size_t prefix = literalPrefix;
        if (pat.starts_with('/')) {
            pat.remove_prefix(1);
            --prefix;
        }
        std::string_view name = relPath;
        if (prefix) {
            if (prefix > name.size() || name.compare(0, prefix, pat, 0, prefix) != 0)
                return false;
            pat.remove_prefix(prefix);
            name.remove_prefix(prefix);
            if (pat.empty() && name.empty())
                return true;
        }
        return wildmatches(pat, name, true);
    }
};

std::size_t simpleLength(std::string_view s)
{
    std::size_t i = 0;
    while (i < s.size() && !isGlobSpecial(s[i]))
        ++i;
    return i;
}

// dir.c trim_trailing_spaces: unescaped trailing spaces go.
void trimTrailingSpaces(std::string *line)
{
    std::size_t lastSpace = std::string::npos;
    for (std::size_t i = 0; i < line->size(); ++i) {
        const char c = (*line)[i];
        if (c == ' ') {
            if (lastSpace == std::string::npos)
                lastSpace = i;
        } else if (c == '\\') {
            ++i;
            if (i >= line->size())
                return;
            lastSpace = std::string::npos;
        } else {
            lastSpace = std::string::npos;
        }
    }
    if (lastSpace != std::string::npos)
        line->resize(lastSpace);
}

GitPattern parsePattern(std::string_view line)
{
    GitPattern p;
    if (line.starts_with('!')) {
        p.negative = true;
        line.remove_prefix(1);
    }
    const std::size_t simple = simpleLength(line);
    if (!line.empty() && line.back() == '/') {
        p.mustBeDir = true;
        line.remove_suffix(1);
    }
    p.basenameOnly = line.find('/') == std::string_view::npos;
    p.literalPrefix = std::min(simple, line.size());
    p.endsWith = line.starts_with('*') && simpleLength(line.substr(1)) == line.size() - 1;
    p.pattern = std::string(line);
    return p;
}

// dir.c add_patterns_from_buffer.
std::vector<GitPattern> parseIgnoreFile(std::string buffer)
{
    std::vector<GitPattern> patterns;
    std::string_view text = buffer;
    if (text.starts_with("\xEF\xBB\xBF"))
        text.remove_prefix(3);
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        std::string_view raw = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        if (raw.empty() || raw.front() == '#')
            continue;
        if (raw.back() == '\r')
            raw.remove_suffix(1);
        std::string line(raw);
        trimTrailingSpaces(&line);
        patterns.push_back(parsePattern(line));
    }
    return patterns;
}

// Reads a regular file that is not a symlink (git opens ignore files with O_NOFOLLOW).
std::optional<std::string> readRulesFile(const std::filesystem::path &path)
{
    std::error_code ec;
    const auto status = std::filesystem::symlink_status(path, ec);
    if (ec || !std::filesystem::is_regular_file(status))
        return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string_view baseName(std::string_view path)
{
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view dirName(std::string_view path)
{
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

struct StringHash
{
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view> {}(s); }
};

class GitIgnoreRules final : public IgnoreRules
{
public:
    GitIgnoreRules(std::string root, bool syncGit)
        : m_root(std::move(root))
        , m_syncGit(syncGit)
    {
        m_dirs.emplace(std::string(), Dir {});
    }

    bool isIgnored(std::string_view relPath, bool isDir) const override
    {
        if (!m_syncGit) {
            for (std::size_t begin = 0;;) {
                const std::size_t end = relPath.find('/', begin);
                if (relPath.substr(begin, end - begin) == ".git")
                    return true;
                if (end == std::string_view::npos)
                    break;
                begin = end + 1;
            }
        }
        const std::lock_guard lock(m_mutex);
        Dir *parent = dir(dirName(relPath));
        if (parent->parent && excluded(parent))
            return true;
        return lastMatchIsExclude(relPath, baseName(relPath), isDir, parent);
    }

    void invalidate(std::string_view relPath) override
    {
        const std::lock_guard lock(m_mutex);
        if (relPath == kInfoExclude) {
            m_excludeLoaded = false;
            m_exclude.clear();
        } else if (baseName(relPath) == ".gitignore") {
            const auto it = m_dirs.find(dirName(relPath));
            if (it == m_dirs.end())
                return;
            it->second.loaded = false;
            it->second.patterns.clear();
        } else {
            return;
        }
        for (auto &entry : m_dirs)
            entry.second.excluded = Verdict::Unknown;
    }

    bool isRulesFile(std::string_view relPath) const override
    {
        return baseName(relPath) == ".gitignore" || relPath == kInfoExclude;
    }

private:
    static constexpr std::string_view kInfoExclude = ".git/info/exclude";

    enum class Verdict : unsigned char { Unknown, Excluded, NotExcluded };

    struct Dir
    {
        Dir *parent = nullptr;
        std::string path; // relative, "" for the root
        bool loaded = false;
        Verdict excluded = Verdict::Unknown;
        std::vector<GitPattern> patterns; // of its .gitignore
    };

    // The state of directory `path`, created (with its ancestors) on first use.
    Dir *dir(std::string_view path) const
    {
        const auto it = m_dirs.find(path);
        if (it != m_dirs.end())
            return &it->second;
        Dir *parent = dir(dirName(path));
        Dir &d = m_dirs.emplace(std::string(path), Dir {}).first->second;
        d.parent = parent;
        d.path = std::string(path);
        return &d;
    }

    const std::vector<GitPattern> &patternsOf(Dir *d) const
    {
        if (!d->loaded) {
            d->loaded = true;
            const std::filesystem::path file
                = std::filesystem::path(m_root) / (d->path.empty() ? ".gitignore" : d->path + "/.gitignore");
            if (auto content = readRulesFile(file))
                d->patterns = parseIgnoreFile(std::move(*content));
        }
        return d->patterns;
    }

    // dir.c prep_exclude: a directory is excluded when a parent is, or when the last pattern
    // matching it (in the .gitignore files above it) is not a negation. Its own .gitignore is
    // then never read, so nothing below can be re-included.
    bool excluded(Dir *d) const
    {
        if (d->excluded == Verdict::Unknown) {
            const bool value = (d->parent->parent && excluded(d->parent))
                || lastMatchIsExclude(d->path, baseName(d->path), true, d->parent);
            d->excluded = value ? Verdict::Excluded : Verdict::NotExcluded;
        }
        return d->excluded == Verdict::Excluded;
    }

    // dir.c last_matching_pattern_from_lists: deeper .gitignore files first, each from its last
    // line up, then .git/info/exclude.
    bool lastMatchIsExclude(std::string_view relPath, std::string_view basename, bool isDir, Dir *deepest) const
    {
        for (Dir *d = deepest; d; d = d->parent) {
            const auto &patterns = patternsOf(d);
            if (patterns.empty())
                continue;
            const std::string_view name = d->path.empty() ? relPath : relPath.substr(d->path.size() + 1);
            for (auto it = patterns.rbegin(); it != patterns.rend(); ++it) {
                if (it->matches(name, basename, isDir))
                    return !it->negative;
            }
        }
        if (!m_excludeLoaded) {
            m_excludeLoaded = true;
            if (auto content = readRulesFile(std::filesystem::path(m_root) / std::string(kInfoExclude)))
                m_exclude = parseIgnoreFile(std::move(*content));
        }
        for (auto it = m_exclude.rbegin(); it != m_exclude.rend(); ++it) {
            if (it->matches(relPath, basename, isDir))
                return !it->negative;
        }
        return false;
    }

    const std::string m_root;
    const bool m_syncGit;
    mutable std::mutex m_mutex;
    // Node-based: Dir pointers stay valid when the map grows.
    mutable std::unordered_map<std::string, Dir, StringHash, std::equal_to<>> m_dirs;
    mutable bool m_excludeLoaded = false;
    mutable std::vector<GitPattern> m_exclude;
};

} // namespace

std::unique_ptr<IgnoreRules> makeGitIgnoreRules(const std::string &root, bool syncGit)
{
    return std::make_unique<GitIgnoreRules>(root, syncGit);
}

} // namespace iterdeck::sync
