// Label selectors (k8s.io/apimachinery/pkg/labels: the query-string lexer/parser and
// metav1.LabelSelectorAsSelector) and field selectors (pkg/fields plus the per-kind selectable
// fields of the apiserver's registries), with the apiserver's validation and error texts.
#include "sandbox/selector.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace iterdeck::sandbox {

namespace {

void setError(std::string *error, std::string message)
{
    if (error)
        *error = std::move(message);
}

// Go's %q, close enough for error messages.
std::string goQuote(std::string_view s)
{
    std::string out = "\"";
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\t':
            out += "\\t";
            break;
        case '\r':
            out += "\\r";
            break;
        default:
            if (u < 0x20 || u == 0x7f) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\x%02x", u);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    out += '"';
    return out;
}

// --- k8s.io/apimachinery/pkg/util/validation -------------------------------------------------

bool isAlnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool matchesQualifiedName(std::string_view s)
{
    if (s.empty() || !isAlnum(s.front()) || !isAlnum(s.back()))
        return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool isLowerAlnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*
bool matchesDns1123Subdomain(std::string_view s)
{
    if (s.empty())
        return false;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = s.find('.', start);
        const std::string_view label
            = s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (label.empty() || !isLowerAlnum(label.front()) || !isLowerAlnum(label.back()))
            return false;
        if (!std::all_of(label.begin(), label.end(), [](char c) { return isLowerAlnum(c) || c == '-'; }))
            return false;
        if (dot == std::string_view::npos)
            return true;
        start = dot + 1;
    }
}

std::string maxLenError(int length)
{
    return "must be no more than " + std::to_string(length) + " characters";
}

const std::string kQualifiedNameFormat = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const std::string kQualifiedNameRegexError
    = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
      "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '"
    + kQualifiedNameFormat + "')";

std::vector<std::string> isQualifiedName(std::string_view value)
{
    std::vector<std::string> errs;
    std::string_view name = value;
    const std::size_t slashes = std::size_t(std::count(value.begin(), value.end(), '/'));
    if (slashes > 1) {
        errs.push_back("a qualified name " + kQualifiedNameRegexError
                       + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
        return errs;
    }
    if (slashes == 1) {
        const std::size_t slash = value.find('/');
        const std::string_view prefix = value.substr(0, slash);
        name = value.substr(slash + 1);
        if (prefix.empty()) {
            errs.push_back("prefix part must be non-empty");
        } else {
            if (prefix.size() > 253)
                errs.push_back("prefix part " + maxLenError(253));
            if (!matchesDns1123Subdomain(prefix))
                errs.push_back("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                               "characters, '-' or '.', and must start and end with an alphanumeric character (e.g. "
                               "'example.com', regex used for validation is "
                               "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
        }
    }
    if (name.empty())
        errs.push_back("name part must be non-empty");
    else if (name.size() > 63)
        errs.push_back("name part " + maxLenError(63));
    if (!matchesQualifiedName(name))
        errs.push_back("name part " + kQualifiedNameRegexError);
    return errs;
}

std::vector<std::string> isValidLabelValue(std::string_view value)
{
    std::vector<std::string> errs;
    if (value.size() > 63)
        errs.push_back(maxLenError(63));
    if (!value.empty() && !matchesQualifiedName(value))
        errs.push_back("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                       "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                       "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    return errs;
}

std::string join(const std::vector<std::string> &parts, std::string_view separator)
{
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i)
            out += separator;
        out += parts[i];
    }
    return out;
}

// field.Invalid(path, value, detail).Error()
std::string invalidValue(const std::string &path, const std::string &renderedValue, const std::string &detail)
{
    return path + ": Invalid value: " + renderedValue + ": " + detail;
}

// utilerrors.Aggregate: one error as itself, several as "[a, b]".
std::string aggregate(const std::vector<std::string> &errors)
{
    std::vector<std::string> unique;
    for (const std::string &e : errors) {
        if (std::find(unique.begin(), unique.end(), e) == unique.end())
            unique.push_back(e);
    }
    if (unique.size() == 1)
        return unique.front();
    return "[" + join(unique, ", ") + "]";
}

std::string renderValues(const std::vector<std::string> &values)
{
    if (values.empty())
        return "null";
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i)
        out += (i ? "," : "") + goQuote(values[i]);
    return out + "]";
}

std::optional<std::int64_t> parseInt(std::string_view s)
{
    if (!s.empty() && s.front() == '+')
        s.remove_prefix(1);
    if (s.empty() || s.front() == '+')
        return std::nullopt;
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return value;
}

// labels.NewRequirement: the validation of a requirement, "" when valid. `path` is the field path
// of the key ("<nil>" for the parser, as the apiserver prints it) or empty for key/values children.
std::string validateRequirement(const LabelSelector::Requirement &r, const std::string &keyPath)
{
    using Op = LabelSelector::Op;
    std::vector<std::string> errs;
    if (const auto keyErrs = isQualifiedName(r.key); !keyErrs.empty())
        errs.push_back(invalidValue(keyPath, goQuote(r.key), join(keyErrs, "; ")));
    const std::string valuePath = "values";
    switch (r.op) {
    case Op::In:
    case Op::NotIn:
        if (r.values.empty())
            errs.push_back(invalidValue(valuePath, renderValues(r.values),
                                        "for 'in', 'notin' operators, values set can't be empty"));
        break;
    case Op::Equals:
    case Op::NotEquals:
        if (r.values.size() != 1)
            errs.push_back(
                invalidValue(valuePath, renderValues(r.values), "exact-match compatibility requires one single value"));
        break;
    case Op::Exists:
    case Op::DoesNotExist:
        if (!r.values.empty())
            errs.push_back(invalidValue(valuePath, renderValues(r.values),
                                        "values set must be empty for exists and does not exist"));
        break;
    case Op::GreaterThan:
    case Op::LessThan:
        if (r.values.size() != 1)
            errs.push_back(invalidValue(valuePath, renderValues(r.values),
                                        "for 'Gt', 'Lt' operators, exactly one value is required"));
        for (std::size_t i = 0; i < r.values.size(); ++i) {
            if (!parseInt(r.values[i]))
                errs.push_back(invalidValue(valuePath + "[" + std::to_string(i) + "]", goQuote(r.values[i]),
                                            "for 'Gt', 'Lt' operators, the value must be an integer"));
        }
        break;
    }
    for (std::size_t i = 0; i < r.values.size(); ++i) {
        if (const auto valueErrs = isValidLabelValue(r.values[i]); !valueErrs.empty())
            errs.push_back(invalidValue(valuePath + "[" + std::to_string(i) + "][" + r.key + "]", goQuote(r.values[i]),
                                        join(valueErrs, "; ")));
    }
    return errs.empty() ? std::string() : aggregate(errs);
}

// --- the query-string lexer and parser (labels.Parse) --------------------------------------

enum class Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
};

struct Scanned
{
    Token token;
    std::string literal;
};

bool isWhitespace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool isSpecialSymbol(char c)
{
    switch (c) {
    case '=':
    case '!':
    case '(':
    case ')':
    case ',':
    case '>':
    case '<':
        return true;
    default:
        return false;
    }
}

std::optional<Token> keyword(std::string_view s)
{
    if (s == ")")
        return Token::ClosedPar;
    if (s == ",")
        return Token::Comma;
    if (s == "!")
        return Token::DoesNotExist;
    if (s == "==")
        return Token::DoubleEquals;
    if (s == "=")
        return Token::Equals;
    if (s == ">")
        return Token::GreaterThan;
    if (s == "in")
        return Token::In;
    if (s == "<")
        return Token::LessThan;
    if (s == "!=")
        return Token::NotEquals;
    if (s == "notin")
        return Token::NotIn;
    if (s == "(")
        return Token::OpenPar;
    return std::nullopt;
}

std::vector<Scanned> lex(std::string_view s)
{
    std::vector<Scanned> items;
    std::size_t pos = 0;
    while (true) {
        while (pos < s.size() && isWhitespace(s[pos]))
            ++pos;
        if (pos >= s.size()) {
            items.push_back({Token::EndOfString, {}});
            return items;
        }
        if (isSpecialSymbol(s[pos])) {
            // The longest run of special symbols that is still an operator.
            std::string buffer;
            std::optional<Scanned> last;
            while (pos < s.size() && isSpecialSymbol(s[pos])) {
                buffer.push_back(s[pos]);
                if (const auto t = keyword(buffer)) {
                    last = Scanned {*t, buffer};
                } else if (last) {
                    break;
                }
                ++pos;
            }
            if (!last) {
                items.push_back({Token::Error, "error expected: keyword found '" + buffer + "'"});
                continue;
            }
            items.push_back(*last);
            continue;
        }
        std::string buffer;
        while (pos < s.size() && !isSpecialSymbol(s[pos]) && !isWhitespace(s[pos]))
            buffer.push_back(s[pos++]);
        if (const auto t = keyword(buffer))
            items.push_back({*t, buffer});
        else
            items.push_back({Token::Identifier, buffer});
    }
}

class Parser
{
public:
    explicit Parser(std::string_view text)
        : m_items(lex(text))
    { }

    // On error returns false with m_error set.
    bool parse(std::vector<LabelSelector::Requirement> &out)
    {
        while (true) {
            const auto [tok, lit] = lookahead(true);
            switch (tok) {
            case Token::Identifier:
            case Token::DoesNotExist: {
                LabelSelector::Requirement r;
                if (!parseRequirement(r)) {
                    m_error = "unable to parse requirement: " + m_error;
                    return false;
                }
                out.push_back(std::move(r));
                const auto [t, l] = consume(true);
                if (t == Token::EndOfString)
                    return true;
                if (t == Token::Comma) {
                    const auto [t2, l2] = lookahead(true);
                    if (t2 != Token::Identifier && t2 != Token::DoesNotExist)
                        return fail("found '" + l2 + "', expected: identifier after ','");
                } else {
                    return fail("found '" + l + "', expected: ',' or 'end of string'");
                }
                break;
            }
            case Token::EndOfString:
                return true;
            default:
                return fail("found '" + lit + "', expected: !, identifier, or 'end of string'");
            }
        }
    }

    const std::string &error() const { return m_error; }

private:
    bool fail(std::string message)
    {
        m_error = std::move(message);
        return false;
    }

    // In the value context "in" and "notin" are identifiers.
    static Scanned contextual(const Scanned &item, bool values)
    {
        if (values && (item.token == Token::In || item.token == Token::NotIn))
            return {Token::Identifier, item.literal};
        return item;
    }

    Scanned lookahead(bool values) const { return contextual(m_items[m_position], values); }

    Scanned consume(bool values)
    {
        const Scanned &item = m_items[m_position];
        if (m_position + 1 < m_items.size())
            ++m_position;
        return contextual(item, values);
    }

    bool parseRequirement(LabelSelector::Requirement &r)
    {
        using Op = LabelSelector::Op;
        bool doesNotExist = false;
        Scanned key = consume(true);
        if (key.token == Token::DoesNotExist) {
            doesNotExist = true;
            key = consume(true);
        }
        if (key.token != Token::Identifier)
            return fail("found '" + key.literal + "', expected: identifier");
        if (const auto errs = isQualifiedName(key.literal); !errs.empty())
            return fail(invalidValue("<nil>", goQuote(key.literal), join(errs, "; ")));
        r.key = key.literal;
        const Token next = lookahead(true).token;
        if (doesNotExist || next == Token::EndOfString || next == Token::Comma) {
            // "!a" followed by an operator is still a DoesNotExist requirement (as in Go, where the
            // operator then fails to parse as a separator).
            r.op = doesNotExist ? Op::DoesNotExist : Op::Exists;
            return finish(r);
        }
        const auto [opTok, opLit] = consume(false);
        switch (opTok) {
        case Token::In:
            r.op = Op::In;
            break;
        case Token::NotIn:
            r.op = Op::NotIn;
            break;
        case Token::Equals:
        case Token::DoubleEquals:
            r.op = Op::Equals;
            break;
        case Token::NotEquals:
            r.op = Op::NotEquals;
            break;
        case Token::GreaterThan:
            r.op = Op::GreaterThan;
            break;
        case Token::LessThan:
            r.op = Op::LessThan;
            break;
        default:
            return fail("found '" + opLit + "', expected: in, notin, =, ==, !=, gt, lt");
        }
        if (r.op == Op::In || r.op == Op::NotIn) {
            if (!parseValues(r.values))
                return false;
        } else if (!parseExactValue(r.values)) {
            return false;
        }
        std::sort(r.values.begin(), r.values.end());
        r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
        return finish(r);
    }

    bool finish(const LabelSelector::Requirement &r)
    {
        const std::string err = validateRequirement(r, "key");
        if (!err.empty())
            return fail(err);
        return true;
    }

    bool parseValues(std::vector<std::string> &values)
    {
        const auto [tok, lit] = consume(true);
        if (tok != Token::OpenPar)
            return fail("found '" + lit + "' expected: '('");
        const auto [next, nextLit] = lookahead(true);
        switch (next) {
        case Token::Identifier:
        case Token::Comma:
            if (!parseIdentifiersList(values))
                return false;
            if (consume(true).token != Token::ClosedPar)
                return fail("found '" + nextLit + "', expected: ')'");
            return true;
        case Token::ClosedPar:
            consume(true);
            values.push_back({});
            return true;
        default:
            return fail("found '" + nextLit + "', expected: ',', ')' or identifier");
        }
    }

    bool parseIdentifiersList(std::vector<std::string> &values)
    {
        while (true) {
            const auto [tok, lit] = consume(true);
            switch (tok) {
            case Token::Identifier: {
                values.push_back(lit);
                const auto [t2, l2] = lookahead(true);
                if (t2 == Token::Comma)
                    continue;
                if (t2 == Token::ClosedPar)
                    return true;
                return fail("found '" + l2 + "', expected: ',' or ')'");
            }
            case Token::Comma: {
                if (values.empty())
                    values.push_back({});
                const Token t2 = lookahead(true).token;
                if (t2 == Token::ClosedPar) {
                    values.push_back({});
                    return true;
                }
                if (t2 == Token::Comma) {
                    consume(true);
                    values.push_back({});
                }
                break;
            }
            default:
                return fail("found '" + lit + "', expected: ',', or identifier");
            }
        }
    }

    bool parseExactValue(std::vector<std::string> &values)
    {
        const Token next = lookahead(true).token;
        if (next == Token::EndOfString || next == Token::Comma) {
            values.push_back({});
            return true;
        }
        const auto [tok, lit] = consume(true);
        if (tok == Token::Identifier) {
            values.push_back(lit);
            return true;
        }
        return fail("found '" + lit + "', expected: identifier");
    }

    std::vector<Scanned> m_items;
    std::size_t m_position = 0;
    std::string m_error;
};

std::string labelText(const Json &value)
{
    if (value.is_string())
        return value.get<std::string>();
    return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// --- field selectors ---------------------------------------------------------------------------

std::string normalisedKind(std::string_view kind)
{
    std::string k;
    for (const char c : kind)
        k.push_back(char(std::tolower(static_cast<unsigned char>(c))));
    if (k.size() > 1 && k.back() == 's')
        k.pop_back(); // resource plural ("pods") → kind
    return k;
}

bool supportsField(std::string_view kind, std::string_view field)
{
    if (field == "metadata.name" || field == "metadata.namespace")
        return true;
    const std::string k = normalisedKind(kind);
    static const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> perKind = {
        {"pod",
         {"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork",
          "status.phase", "status.podIP", "status.nominatedNodeName"}},
        {"event",
         {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
          "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
          "reportingComponent", "source", "type"}},
        {"secret", {"type"}},
        {"namespace", {"status.phase"}},
        {"node", {"spec.unschedulable"}},
        {"replicaset", {"status.replicas"}},
        {"replicationcontroller", {"status.replicas"}},
        {"job", {"status.successful"}},
    };
    for (const auto &[name, fields] : perKind) {
        if (name == k)
            return std::find(fields.begin(), fields.end(), field) != fields.end();
    }
    return false;
}

const Json *lookupPath(const Json &object, std::string_view dotted)
{
    const Json *node = &object;
    while (true) {
        const std::size_t dot = dotted.find('.');
        const std::string key(dotted.substr(0, dot));
        if (!node->is_object())
            return nullptr;
        const auto it = node->find(key);
        if (it == node->end())
            return nullptr;
        node = &*it;
        if (dot == std::string_view::npos)
            return node;
        dotted.remove_prefix(dot + 1);
    }
}

std::string scalarText(const Json *value, const std::string &fallback)
{
    if (!value || value->is_null())
        return fallback;
    if (value->is_string())
        return value->get<std::string>();
    return value->dump(-1, ' ', false, Json::error_handler_t::replace);
}

// The value a selectable field has on an object, as the apiserver's ToSelectableFields renders it.
std::string fieldValue(const Json &object, const std::string &field)
{
    if (field == "source") {
        const std::string component = scalarText(lookupPath(object, "source.component"), {});
        return component.empty() ? scalarText(lookupPath(object, "reportingComponent"), {}) : component;
    }
    if (field == "status.successful")
        return scalarText(lookupPath(object, "status.succeeded"), "0");
    if (field == "status.replicas")
        return scalarText(lookupPath(object, field), "0");
    if (field == "spec.hostNetwork" || field == "spec.unschedulable")
        return scalarText(lookupPath(object, field), "false");
    return scalarText(lookupPath(object, field), {});
}

// fields.UnescapeValue
std::optional<std::string> unescapeFieldValue(std::string_view s, std::string *error)
{
    std::string out;
    bool inSlash = false;
    for (const char c : s) {
        if (inSlash) {
            if (c != '\\' && c != ',' && c != '=') {
                setError(error, "invalid field selector: invalid escape sequence: \\" + std::string(1, c));
                return std::nullopt;
            }
            out.push_back(c);
            inSlash = false;
            continue;
        }
        if (c == '\\') {
            inSlash = true;
        } else if (c == ',' || c == '=') {
            setError(error, "invalid field selector: unescaped character in value: " + std::string(1, c));
            return std::nullopt;
        } else {
            out.push_back(c);
        }
    }
    if (inSlash) {
        setError(error, "invalid field selector: invalid escape sequence: \\");
        return std::nullopt;
    }
    return out;
}

} // namespace

std::optional<LabelSelector> LabelSelector::parse(std::string_view text, std::string *error)
{
    Parser parser(text);
    LabelSelector selector;
    if (!parser.parse(selector.m_requirements)) {
        setError(error, parser.error());
        return std::nullopt;
    }
    std::stable_sort(selector.m_requirements.begin(), selector.m_requirements.end(),
                     [](const Requirement &a, const Requirement &b) { return a.key < b.key; });
    return selector;
}

std::optional<LabelSelector> LabelSelector::fromObject(const Json &object, std::string *error)
{
    LabelSelector selector;
    if (object.is_null()) {
        selector.m_matchesNothing = true;
        return selector;
    }
    if (!object.is_object()) {
        setError(error, "a label selector must be an object, got " + std::string(object.type_name()));
        return std::nullopt;
    }
    if (const auto labels = object.find("matchLabels"); labels != object.end() && !labels->is_null()) {
        if (!labels->is_object()) {
            setError(error, "matchLabels: must be an object of strings");
            return std::nullopt;
        }
        for (auto it = labels->begin(); it != labels->end(); ++it) {
            if (!it.value().is_string()) {
                setError(error, "matchLabels." + it.key() + ": must be a string");
                return std::nullopt;
            }
            Requirement r {it.key(), Op::Equals, {it.value().get<std::string>()}};
            if (const std::string err = validateRequirement(r, "key"); !err.empty()) {
                setError(error, err);
                return std::nullopt;
            }
            selector.m_requirements.push_back(std::move(r));
        }
    }
    if (const auto exprs = object.find("matchExpressions"); exprs != object.end() && !exprs->is_null()) {
        if (!exprs->is_array()) {
            setError(error, "matchExpressions: must be a list");
            return std::nullopt;
        }
        for (const Json &expr : *exprs) {
            if (!expr.is_object()) {
                setError(error, "matchExpressions: each expression must be an object");
                return std::nullopt;
            }
            const auto key = expr.find("key");
            const auto op = expr.find("operator");
            const auto values = expr.find("values");
            Requirement r;
            if (key != expr.end() && key->is_string())
                r.key = key->get<std::string>();
            const std::string opName = op != expr.end() && op->is_string() ? op->get<std::string>() : std::string();
            if (opName == "In") {
                r.op = Op::In;
            } else if (opName == "NotIn") {
                r.op = Op::NotIn;
            } else if (opName == "Exists") {
                r.op = Op::Exists;
            } else if (opName == "DoesNotExist") {
                r.op = Op::DoesNotExist;
            } else {
                setError(error, goQuote(opName) + " is not a valid label selector operator");
                return std::nullopt;
            }
            if (values != expr.end() && !values->is_null()) {
                if (!values->is_array()) {
                    setError(error, "matchExpressions.values: must be a list of strings");
                    return std::nullopt;
                }
                for (const Json &v : *values) {
                    if (!v.is_string()) {
                        setError(error, "matchExpressions.values: must be a list of strings");
                        return std::nullopt;
                    }
                    r.values.push_back(v.get<std::string>());
                }
            }
            if (const std::string err = validateRequirement(r, "key"); !err.empty()) {
                setError(error, err);
                return std::nullopt;
            }
            selector.m_requirements.push_back(std::move(r));
        }
    }
    std::stable_sort(selector.m_requirements.begin(), selector.m_requirements.end(),
                     [](const Requirement &a, const Requirement &b) { return a.key < b.key; });
    return selector;
}

bool LabelSelector::matches(const Json &labels) const
{
    if (m_matchesNothing)
        return false;
    for (const Requirement &r : m_requirements) {
        const Json *value = nullptr;
        if (labels.is_object()) {
            const auto it = labels.find(r.key);
            if (it != labels.end())
                value = &*it;
        }
        const auto hasValue = [&]() {
            const std::string text = labelText(*value);
            return std::find(r.values.begin(), r.values.end(), text) != r.values.end();
        };
        bool ok = false;
        switch (r.op) {
        case Op::Equals:
        case Op::In:
            ok = value && hasValue();
            break;
        case Op::NotEquals:
        case Op::NotIn:
            ok = !value || !hasValue();
            break;
        case Op::Exists:
            ok = value != nullptr;
            break;
        case Op::DoesNotExist:
            ok = value == nullptr;
            break;
        case Op::GreaterThan:
        case Op::LessThan: {
            if (!value || r.values.size() != 1)
                break;
            const auto have = parseInt(labelText(*value));
            const auto want = parseInt(r.values.front());
            if (!have || !want)
                break;
            ok = r.op == Op::GreaterThan ? *have > *want : *have < *want;
            break;
        }
        }
        if (!ok)
            return false;
    }
    return true;
}

std::optional<FieldSelector> FieldSelector::parse(std::string_view text, std::string_view kind, std::string *error)
{
    // fields.splitTerms: commas split terms unless escaped.
    std::vector<std::string> terms;
    if (!text.empty()) {
        std::string current;
        bool inSlash = false;
        for (const char c : text) {
            if (inSlash) {
                inSlash = false;
            } else if (c == '\\') {
                inSlash = true;
            } else if (c == ',') {
                terms.push_back(std::move(current));
                current.clear();
                continue;
            }
            current.push_back(c);
        }
        terms.push_back(std::move(current));
    }
    std::sort(terms.begin(), terms.end());

    FieldSelector selector;
    for (const std::string &term : terms) {
        if (term.empty())
            continue;
        // fields.splitTerm: the first "!=", "==" or "=" splits the term.
        std::size_t at = std::string::npos;
        std::size_t opLength = 0;
        bool negate = false;
        for (std::size_t i = 0; i < term.size(); ++i) {
            if (term.compare(i, 2, "!=") == 0) {
                at = i, opLength = 2, negate = true;
            } else if (term.compare(i, 2, "==") == 0) {
                at = i, opLength = 2;
            } else if (term[i] == '=') {
                at = i, opLength = 1;
            }
            if (at != std::string::npos)
                break;
        }
        if (at == std::string::npos) {
            setError(error, "invalid selector: '" + std::string(text) + "'; can't understand '" + term + "'");
            return std::nullopt;
        }
        const auto value = unescapeFieldValue(std::string_view(term).substr(at + opLength), error);
        if (!value)
            return std::nullopt;
        Requirement r {term.substr(0, at), negate, *value};
        if (!supportsField(kind, r.field)) {
            setError(error, "field label not supported: " + r.field);
            return std::nullopt;
        }
        selector.m_requirements.push_back(std::move(r));
    }
    return selector;
}

bool FieldSelector::matches(const Json &object) const
{
    for (const Requirement &r : m_requirements) {
        if ((fieldValue(object, r.field) == r.value) == r.negate)
            return false;
    }
    return true;
}

std::optional<std::string> FieldSelector::exactValue(std::string_view field) const
{
    for (const Requirement &r : m_requirements) {
        if (!r.negate && r.field == field)
            return r.value;
    }
    return std::nullopt;
}

} // namespace iterdeck::sandbox
