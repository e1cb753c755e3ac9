#include "sync/glob.h"

namespace iterdeck::sync {

namespace {

using Node = Glob::Node;
using Sequence = Glob::Sequence;

// Decodes one UTF-8 code point at `pos`; an invalid byte stands for itself.
char32_t decode(std::string_view s, std::size_t pos, std::size_t *length)
{
    const auto b0 = static_cast<unsigned char>(s[pos]);
    auto continuation
        = [&](std::size_t i) { return pos + i < s.size() && (static_cast<unsigned char>(s[pos + i]) & 0xC0) == 0x80; };
    auto bits = [&](std::size_t i) { return char32_t(static_cast<unsigned char>(s[pos + i]) & 0x3F); };
    if (b0 < 0x80) {
        *length = 1;
        return b0;
    }
    if ((b0 & 0xE0) == 0xC0 && continuation(1)) {
        *length = 2;
        return (char32_t(b0 & 0x1F) << 6) | bits(1);
    }
    if ((b0 & 0xF0) == 0xE0 && continuation(1) && continuation(2)) {
        *length = 3;
        return (char32_t(b0 & 0x0F) << 12) | (bits(1) << 6) | bits(2);
    }
    if ((b0 & 0xF8) == 0xF0 && continuation(1) && continuation(2) && continuation(3)) {
        *length = 4;
        return (char32_t(b0 & 0x07) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3);
    }
    *length = 1;
    return b0;
}

void encode(char32_t cp, std::string *out)
{
    if (cp < 0x80) {
        out->push_back(char(cp));
    } else if (cp < 0x800) {
        out->push_back(char(0xC0 | (cp >> 6)));
        out->push_back(char(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out->push_back(char(0xE0 | (cp >> 12)));
        out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(char(0x80 | (cp & 0x3F)));
    } else {
        out->push_back(char(0xF0 | (cp >> 18)));
        out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
        out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
        out->push_back(char(0x80 | (cp & 0x3F)));
    }
}

char32_t lower(char32_t c)
{
    if ((c >= U'A' && c <= U'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7) || (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
        || (c >= 0x410 && c <= 0x42F))
        return c + 0x20;
    if (c >= 0x400 && c <= 0x40F)
        return c + 0x50;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x100 && c <= 0x17F && c != 0x130 && c != 0x131 && c != 0x138 && c != 0x149 && c != 0x17F) {
        // Latin Extended-A pairs: even upper/odd lower, except 0x139-0x148 and 0x179-0x17E (odd upper).
        const bool oddUpper = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E);
        if (oddUpper ? (c % 2 == 1) : (c % 2 == 0))
            return c + 1;
        return c;
    }
    return c;
}

class Parser
{
public:
    Parser(std::string_view text, std::string *error)
        : m_text(text)
        , m_error(error)
    { }

    // Parses up to the end, or (inside "{...}") up to the next ',' or '}' of this level.
    bool sequence(int depth, Sequence *out)
    {
        while (m_pos < m_text.size()) {
            const char c = m_text[m_pos];
            if (depth > 0 && (c == ',' || c == '}'))
                return true;
            switch (c) {
            case '\\':
                ++m_pos;
                // gobwas drops a trailing backslash.
                if (m_pos < m_text.size())
                    appendLiteral(out, m_text[m_pos++]);
                break;
            case '*':
                if (m_pos + 1 < m_text.size() && m_text[m_pos + 1] == '*') {
                    m_pos += 2;
                    appendWildcard(out, Node::Kind::Super);
                } else {
                    ++m_pos;
                    appendWildcard(out, Node::Kind::Star);
                }
                break;
            case '?':
                ++m_pos;
                out->push_back(Node {Node::Kind::Single, false, {}, {}, {}});
                break;
            case '[':
                if (!characterClass(out))
                    return false;
                break;
            case '{':
                if (!alternatives(depth, out))
                    return false;
                break;
            default:
                appendLiteral(out, c);
                ++m_pos;
            }
        }
        return true;
    }

    std::size_t position() const { return m_pos; }

private:
    static void appendLiteral(Sequence *out, char c)
    {
        if (out->empty() || out->back().kind != Node::Kind::Literal)
            out->push_back(Node {Node::Kind::Literal, false, {}, {}, {}});
        out->back().literal.push_back(c);
    }

    // "**" absorbs neighbouring "*" and "**": the matches are the same.
    static void appendWildcard(Sequence *out, Node::Kind kind)
    {
        if (!out->empty() && (out->back().kind == Node::Kind::Star || out->back().kind == Node::Kind::Super)) {
            if (kind == Node::Kind::Super)
                out->back().kind = Node::Kind::Super;
            return;
        }
        out->push_back(Node {kind, false, {}, {}, {}});
    }

    bool codePoint(char32_t *cp)
    {
        if (m_text[m_pos] == '\\') {
            ++m_pos;
            if (m_pos >= m_text.size())
                return false;
        }
        std::size_t length = 0;
        *cp = decode(m_text, m_pos, &length);
        m_pos += length;
        return true;
    }

    bool characterClass(Sequence *out)
    {
        Node node {Node::Kind::Class, false, {}, {}, {}};
        ++m_pos;
        if (m_pos < m_text.size() && m_text[m_pos] == '!') {
            node.negated = true;
            ++m_pos;
        }
        while (true) {
            if (m_pos >= m_text.size())
                return fail("unterminated character class");
            if (m_text[m_pos] == ']') {
                ++m_pos;
                break;
            }
            char32_t lo = 0;
            if (!codePoint(&lo))
                return fail("unterminated character class");
            char32_t hi = lo;
            if (m_pos + 1 < m_text.size() && m_text[m_pos] == '-' && m_text[m_pos + 1] != ']') {
                ++m_pos;
                if (!codePoint(&hi))
                    return fail("unterminated character class");
                if (hi < lo)
                    return fail("character range out of order");
            }
            node.ranges.emplace_back(lo, hi);
        }
        out->push_back(std::move(node));
        return true;
    }

    bool alternatives(int depth, Sequence *out)
    {
        Node node {Node::Kind::Alternatives, false, {}, {}, {}};
        ++m_pos;
        while (true) {
            Sequence branch;
            if (!sequence(depth + 1, &branch))
                return false;
            if (m_pos >= m_text.size())
                return fail("unterminated alternation");
            node.alternatives.push_back(std::move(branch));
            if (m_text[m_pos++] == '}')
                break;
        }
        out->push_back(std::move(node));
        return true;
    }

    bool fail(const char *message)
    {
        if (m_error)
            *m_error = message;
        return false;
    }

    std::string_view m_text;
    std::string *m_error;
    std::size_t m_pos = 0;
};

struct Continuation
{
    const Sequence *sequence;
    std::size_t index;
    const Continuation *next;
};

// Backtracking matcher. With `prefix`, reaching the end of `text` is a success: the rest of
// the pattern might match whatever follows.
bool matchSequence(const Sequence &seq, std::size_t index, std::string_view text, std::size_t pos,
                   const Continuation *rest, bool prefix)
{
    while (index < seq.size()) {
        if (prefix && pos == text.size())
            return true;
        const Node &node = seq[index];
        switch (node.kind) {
        case Node::Kind::Literal: {
            const std::string_view lit = node.literal;
            if (prefix && text.size() - pos < lit.size())
                return text.substr(pos) == lit.substr(0, text.size() - pos);
            if (text.compare(pos, lit.size(), lit) != 0)
                return false;
            pos += lit.size();
            break;
        }
        case Node::Kind::Single:
        case Node::Kind::Class: {
            if (pos >= text.size())
                return false;
            std::size_t length = 0;
            const char32_t cp = decode(text, pos, &length);
            if (node.kind == Node::Kind::Single) {
                if (cp == U'/')
                    return false;
            } else {
                bool in = false;
                for (const auto &[lo, hi] : node.ranges) {
                    if (cp >= lo && cp <= hi) {
                        in = true;
                        break;
                    }
                }
                if (in == node.negated)
                    return false;
            }
            pos += length;
            break;
        }
        case Node::Kind::Star:
        case Node::Kind::Super: {
            const bool crossSlash = node.kind == Node::Kind::Super;
            const bool last = index + 1 == seq.size() && !rest;
            if (last && !prefix)
                return crossSlash || text.find('/', pos) == std::string_view::npos;
            // When a literal follows, only positions where it starts can match.
            const Node *next = index + 1 < seq.size() ? &seq[index + 1] : nullptr;
            const char first = next && next->kind == Node::Kind::Literal ? next->literal.front() : '\0';
            for (std::size_t p = pos;;) {
                if ((first == '\0' || p >= text.size() || text[p] == first)
                    && matchSequence(seq, index + 1, text, p, rest, prefix))
                    return true;
                if (p >= text.size())
                    return false;
                std::size_t length = 0;
                const char32_t cp = decode(text, p, &length);
                if (cp == U'/' && !crossSlash)
                    return false;
                p += length;
            }
        }
        case Node::Kind::Alternatives: {
            const Continuation after {&seq, index + 1, rest};
            for (const Sequence &branch : node.alternatives) {
                if (matchSequence(branch, 0, text, pos, &after, prefix))
                    return true;
            }
            return false;
        }
        }
        ++index;
    }
    if (rest)
        return matchSequence(*rest->sequence, rest->index, text, pos, rest->next, prefix);
    return pos == text.size();
}

} // namespace

bool Glob::compile(std::string_view pattern, std::string *error)
{
    m_sequence.clear();
    Parser parser(pattern, error);
    if (!parser.sequence(0, &m_sequence))
        return false;

    using K = Node::Kind;
    const auto &s = m_sequence;
    auto is = [&](std::size_t i, K k) { return s[i].kind == k; };
    m_shape = Shape::General;
    if (s.size() == 1 && is(0, K::Literal)) {
        m_shape = Shape::Exact;
        m_literal = s[0].literal;
    } else if (s.size() == 1 && is(0, K::Super)) {
        m_shape = Shape::Everything;
    } else if (s.size() == 2 && is(0, K::Literal) && is(1, K::Super)) {
        m_shape = Shape::Prefix;
        m_literal = s[0].literal;
    } else if (s.size() == 2 && is(0, K::Super) && is(1, K::Literal)) {
        m_shape = Shape::Suffix;
        m_literal = s[1].literal;
    } else if (s.size() == 3 && is(0, K::Super) && is(1, K::Literal) && is(2, K::Super)) {
        m_shape = Shape::Contains;
        m_literal = s[1].literal;
    }
    return true;
}

bool Glob::matches(std::string_view path) const
{
    switch (m_shape) {
    case Shape::Exact:
        return path == m_literal;
    case Shape::Everything:
        return true;
    case Shape::Prefix:
        return path.starts_with(m_literal);
    case Shape::Suffix:
        return path.ends_with(m_literal);
    case Shape::Contains:
        return path.find(m_literal) != std::string_view::npos;
    case Shape::General:
        break;
    }
    if (m_sequence.empty())
        return path.empty();
    return matchSequence(m_sequence, 0, path, 0, nullptr, false);
}

bool Glob::couldMatchBelow(std::string_view dir) const
{
    std::string probe;
    probe.reserve(dir.size() + 1);
    probe.append(dir);
    probe.push_back('/');
    if (m_sequence.empty())
        return false;
    return matchSequence(m_sequence, 0, probe, 0, nullptr, true);
}

std::string foldCase(std::string_view text)
{
    std::string out;
    out.reserve(text.size());
    for (std::size_t pos = 0; pos < text.size();) {
        const auto b = static_cast<unsigned char>(text[pos]);
        if (b < 0x80) {
            out.push_back(b >= 'A' && b <= 'Z' ? char(b + 0x20) : char(b));
            ++pos;
            continue;
        }
        std::size_t length = 0;
        const char32_t cp = decode(text, pos, &length);
        const char32_t folded = lower(cp);
        if (folded == cp || length == 1)
            out.append(text.substr(pos, length));
        else
            encode(folded, &out);
        pos += length;
    }
    return out;
}

} // namespace iterdeck::sync
