#pragma once

#include <QString>
#include <QStringList>

namespace iterdeck::text {

// Optimal string alignment distance (insert, delete, substitute, swap neighbours).
int editDistance(QStringView a, QStringView b);

// The candidate closest to `word` when it is close enough to be a plausible typo
// (case-insensitive; at most a third of the word's length away), or an empty string.
QString closestMatch(QStringView word, const QStringList &candidates);

// `, did you mean "x"?` or an empty string: ready to append to a message.
QString didYouMeanSuffix(QStringView word, const QStringList &candidates);

// A quoted list for messages: "a", "b" or "c".
QString quotedList(const QStringList &items, QStringView conjunction = u"or");

// True when `s` is a valid DNS-1123 label (RFC 1123: lower-case alphanumerics and '-',
// starting and ending with an alphanumeric, at most 63 characters), the rule for
// Kubernetes namespace and service names.
bool isDnsLabel(QStringView s);
// True when `s` is a DNS-1123 subdomain (dot-separated labels, at most 253 characters),
// the rule for most Kubernetes object names and for host names.
bool isDnsSubdomain(QStringView s);

} // namespace iterdeck::text
