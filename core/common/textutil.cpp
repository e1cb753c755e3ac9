#include "textutil.h"

#include <algorithm>
#include <vector>

namespace iterdeck::text {

int editDistance(QStringView a, QStringView b)
{
    const qsizetype n = a.size();
    const qsizetype m = b.size();
    std::vector<int> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (qsizetype j = 0; j <= m; ++j)
        prev[j] = int(j);
    for (qsizetype i = 1; i <= n; ++i) {
        cur[0] = int(i);
        for (qsizetype j = 1; j <= m; ++j) {
            const int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
        }
        std::swap(prev2, prev);
        std::swap(prev, cur);
    }
    return prev[m];
}

QString closestMatch(QStringView word, const QStringList &candidates)
{
    const QString lower = word.toString().toLower();
    QString best;
    int bestDistance = std::numeric_limits<int>::max();
    for (const QString &c : candidates) {
        const int d = editDistance(lower, c.toLower());
        if (d < bestDistance) {
            bestDistance = d;
            best = c;
        }
    }
    const int limit = std::max<int>(1, int(word.size()) / 3);
    if (best.isEmpty() || bestDistance > limit)
        return {};
    return best;
}

QString didYouMeanSuffix(QStringView word, const QStringList &candidates)
{
    const QString m = closestMatch(word, candidates);
    return m.isEmpty() ? QString() : u"; did you mean \"" + m + u"\"?";
}

QString quotedList(const QStringList &items, QStringView conjunction)
{
    QString out;
    for (qsizetype i = 0; i < items.size(); ++i) {
        if (i > 0)
            out += i + 1 == items.size() ? u' ' + conjunction.toString() + u' ' : QStringLiteral(", ");
        out += u'"' + items[i] + u'"';
    }
    return out;
}

static bool isLowerAlnum(QChar c)
{
    return (c >= u'a' && c <= u'z') || (c >= u'0' && c <= u'9');
}

bool isDnsLabel(QStringView s)
{
    if (s.isEmpty() || s.size() > 63)
        return false;
    if (!isLowerAlnum(s.front()) || !isLowerAlnum(s.back()))
        return false;
    return std::all_of(s.begin(), s.end(), [](QChar c) { return isLowerAlnum(c) || c == u'-'; });
}

bool isDnsSubdomain(QStringView s)
{
    if (s.isEmpty() || s.size() > 253)
        return false;
    for (QStringView label : s.split(u'.')) {
        if (!isDnsLabel(label))
            return false;
    }
    return true;
}

} // namespace iterdeck::text
