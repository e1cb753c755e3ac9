#pragma once
// Label and field selectors as the Kubernetes API parses them.
#include "sandbox/json.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iterdeck::sandbox {

class LabelSelector
{
public:
    // GreaterThan/LessThan: "a>1", "a<1" (integer comparison), accepted by the query form only.
    enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist, GreaterThan, LessThan };
    struct Requirement
    {
        std::string key;
        Op op = Op::Equals;
        std::vector<std::string> values;
    };

    // The query-string form: "a=b,c!=d,e in (x,y),f notin (z),g,!h" ("==" is "=").
    // Keys and values are checked as Kubernetes does (qualified names, 63-char values);
    // on error *error gets a message like the apiserver's and nullopt is returned.
    static std::optional<LabelSelector> parse(std::string_view text, std::string *error);
    // A metav1.LabelSelector object: {matchLabels:{..}, matchExpressions:[{key,operator,values}]}.
    // A null/absent selector matches nothing; an empty object {} matches everything.
    static std::optional<LabelSelector> fromObject(const Json &selector, std::string *error);

    bool matches(const Json &labels) const; // labels: object of string->string, or null
    // True for the selector that matches everything (no requirements); false for a null selector.
    bool empty() const { return !m_matchesNothing && m_requirements.empty(); }
    // True for a null/absent selector object (labels.Nothing()).
    bool matchesNothing() const { return m_matchesNothing; }
    const std::vector<Requirement> &requirements() const { return m_requirements; }

private:
    std::vector<Requirement> m_requirements;
    bool m_matchesNothing = false;
};

class FieldSelector
{
public:
    struct Requirement
    {
        std::string field; // e.g. "metadata.name"
        bool negate = false;
        std::string value;
    };

    // "metadata.name=x,status.phase!=Running". Every kind supports metadata.name and
    // metadata.namespace; Pod adds spec.nodeName, status.phase, spec.restartPolicy,
    // spec.schedulerName, spec.serviceAccountName, status.podIP, status.nominatedNodeName;
    // Event adds involvedObject.{kind,namespace,name,uid,apiVersion,resourceVersion,fieldPath},
    // reason, source, type; Secret adds type. An unsupported field gives the error
    // `field label not supported: <field>`.
    static std::optional<FieldSelector> parse(std::string_view text, std::string_view kind, std::string *error);
    bool matches(const Json &object) const;
    bool empty() const { return m_requirements.empty(); }
    // The value required for `field` by an "=" requirement, if any (lets a list skip a scan).
    std::optional<std::string> exactValue(std::string_view field) const;

private:
    std::vector<Requirement> m_requirements;
};

} // namespace iterdeck::sandbox
