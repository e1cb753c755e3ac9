// Small helpers of the sandbox's kubelet: timestamps, base64, hashes, Go-style formatting.
#include "sandbox/runtime_p.h"

#include <openssl/evp.h>

#include <cstdio>
#include <ctime>
#include <random>

namespace iterdeck::sandbox::detail {

namespace {

std::string formatTime(SysClock::time_point t, bool nanos)
{
    const auto since = t.time_since_epoch();
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count();
    if (ns < 0) {
        secs -= std::chrono::seconds(1);
        ns += 1000000000;
    }
    const std::time_t tt = static_cast<std::time_t>(secs.count());
    std::tm tm {};
    gmtime_r(&tt, &tm);
    char buf[64];
    if (nanos) {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(ns));
    } else {
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    return buf;
}

int digits(std::string_view s, std::size_t pos, std::size_t count)
{
    if (pos + count > s.size())
        return -1;
    int v = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

} // namespace

std::string rfc3339(SysClock::time_point t)
{
    return formatTime(t, false);
}

std::string rfc3339Nano(SysClock::time_point t)
{
    return formatTime(t, true);
}

std::optional<SysClock::time_point> parseRfc3339(std::string_view s)
{
    // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
    const int year = digits(s, 0, 4), mon = digits(s, 5, 2), day = digits(s, 8, 2);
    const int hour = digits(s, 11, 2), min = digits(s, 14, 2), sec = digits(s, 17, 2);
    if (year < 0 || mon < 1 || mon > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || min < 0 || min > 59
        || sec < 0 || sec > 60 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    std::size_t pos = 19;
    long long nanos = 0;
    if (pos < s.size() && s[pos] == '.') {
        ++pos;
        int n = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            if (n < 9) {
                nanos = nanos * 10 + (s[pos] - '0');
                ++n;
            }
            ++pos;
        }
        if (n == 0)
            return std::nullopt;
        for (; n < 9; ++n)
            nanos *= 10;
    }
    long offset = 0;
    if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
        ++pos;
    } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
        const int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
        if (oh < 0 || om < 0 || s[pos + 3] != ':')
            return std::nullopt;
        offset = (oh * 3600L + om * 60L) * (s[pos] == '-' ? -1 : 1);
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != s.size())
        return std::nullopt;
    std::tm tm {};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    const std::time_t t = timegm(&tm) - offset;
    return SysClock::time_point(
        std::chrono::duration_cast<SysClock::duration>(std::chrono::seconds(t) + std::chrono::nanoseconds(nanos)));
}

std::optional<std::string> base64Decode(std::string_view text)
{
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z')
            return c - 'A';
        if (c >= 'a' && c <= 'z')
            return c - 'a' + 26;
        if (c >= '0' && c <= '9')
            return c - '0' + 52;
        if (c == '+' || c == '-')
            return 62;
        if (c == '/' || c == '_')
            return 63;
        return -1;
    };
    std::string out;
    out.reserve(text.size() * 3 / 4);
    unsigned buffer = 0;
    int bits = 0;
    bool padding = false;
    for (char c : text) {
        if (c == '\n' || c == '\r' || c == ' ')
            continue;
        if (c == '=') {
            padding = true;
            continue;
        }
        const int v = value(c);
        if (v < 0 || padding)
            return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
        }
    }
    if (bits >= 6)
        return std::nullopt;
    return out;
}

std::string sha256Hex(std::string_view data)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0xF]);
    }
    return out;
}

std::string randomHex(std::size_t chars)
{
    static std::mt19937_64 generator {std::random_device {}()};
    static const char hex[] = "0123456789abcdef";
    std::string out;
    while (out.size() < chars) {
        auto v = generator();
        for (int i = 0; i < 16 && out.size() < chars; ++i, v >>= 4)
            out.push_back(hex[v & 0xF]);
    }
    return out;
}

std::string goDuration(std::chrono::milliseconds d)
{
    const long long ms = d.count();
    if (ms < 1000)
        return std::to_string(ms) + "ms";
    const long long totalSeconds = ms / 1000;
    const long long rest = ms % 1000;
    std::string secs = std::to_string(totalSeconds % 60);
    if (rest) {
        char frac[8];
        std::snprintf(frac, sizeof frac, ".%03lld", rest);
        std::string f = frac;
        while (f.back() == '0')
            f.pop_back();
        secs += f;
    }
    secs += "s";
    const long long minutes = totalSeconds / 60;
    if (minutes == 0)
        return secs;
    const long long hours = minutes / 60;
    std::string out = std::to_string(minutes % 60) + "m" + secs;
    return hours ? std::to_string(hours) + "h" + out : out;
}

std::string goList(const std::vector<std::string> &items)
{
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i)
            out += ' ';
        out += items[i];
    }
    return out + "]";
}

std::string expandVars(const std::string &text, const std::map<std::string, std::string> &vars)
{
    // As k8s.io/kubernetes/third_party/forked/golang/expansion: $(VAR) is replaced when VAR is
    // defined and kept verbatim otherwise; $$ is an escaped $.
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '$' || i + 1 >= text.size()) {
            out += text[i];
            continue;
        }
        if (text[i + 1] == '$') {
            out += '$';
            ++i;
            continue;
        }
        if (text[i + 1] == '(') {
            const auto close = text.find(')', i + 2);
            if (close == std::string::npos) {
                out += text.substr(i);
                break;
            }
            const std::string name = text.substr(i + 2, close - i - 2);
            const auto it = vars.find(name);
            out += it != vars.end() ? it->second : text.substr(i, close - i + 1);
            i = close;
            continue;
        }
        out += '$';
    }
    return out;
}

std::string cleanPath(const std::string &path)
{
    std::vector<std::string> parts;
    std::size_t i = 0;
    while (i <= path.size()) {
        auto slash = path.find('/', i);
        if (slash == std::string::npos)
            slash = path.size();
        const std::string part = path.substr(i, slash - i);
        if (part == "..") {
            if (!parts.empty())
                parts.pop_back();
        } else if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        i = slash + 1;
    }
    std::string out;
    for (const auto &p : parts)
        out += "/" + p;
    return out.empty() ? "/" : out;
}

bool pathIsUnder(const std::string &path, const std::string &dir)
{
    if (dir == "/")
        return true;
    return path == dir
        || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

} // namespace iterdeck::sandbox::detail
