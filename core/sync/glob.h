#pragma once

// Private helper of ignore.cpp: syncthing's .stignore glob (gobwas/glob with '/' as the
// separator), compiled once and matched without allocating.

#include <string>
#include <string_view>
#include <vector>

namespace iterdeck::sync {

class Glob
{
public:
    // Compiles `pattern`. On a syntax error returns false and sets `error`
    // ("unterminated character class", "unterminated alternation").
    bool compile(std::string_view pattern, std::string *error);

    // "*" and "?" stop at '/', "**" crosses it, "[...]" / "[!...]" and "{a,b}" as in gobwas/glob,
    // "\" escapes. `path` and the pattern are UTF-8; "?" and classes take one code point.
    bool matches(std::string_view path) const;
    // True when some path strictly below the directory `dir` might match. Never false when one
    // does (it may be true when none does): callers use it to decide whether to descend.
    bool couldMatchBelow(std::string_view dir) const;
    // True when the glob matches everything (it is "**").
    bool matchesEverything() const { return m_shape == Shape::Everything; }

    struct Node;
    using Sequence = std::vector<Node>;

private:
    enum class Shape : unsigned char { General, Exact, Everything, Prefix, Suffix, Contains };

    Sequence m_sequence;
    Shape m_shape = Shape::General;
    std::string m_literal; // the literal of the Exact, Prefix, Suffix and Contains shapes
};

struct Glob::Node
{
    enum class Kind : unsigned char { Literal, Single, Star, Super, Class, Alternatives };
    Kind kind = Kind::Literal;
    bool negated = false; // Class: "[!...]"
    std::string literal; // Literal: UTF-8 bytes
    std::vector<std::pair<char32_t, char32_t>> ranges; // Class: inclusive code point ranges
    std::vector<Sequence> alternatives; // Alternatives: "{a,b}"
};

// Lower-cases UTF-8 text the way (?i) needs (ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic).
std::string foldCase(std::string_view text);

} // namespace iterdeck::sync
