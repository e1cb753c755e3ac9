#include "sandbox/json.h"

#include <boost/beast/core/detail/base64.hpp>

namespace iterdeck::sandbox {

std::string toBase64(std::string_view in)
{
    namespace b64 = boost::beast::detail::base64;
    std::string out(b64::encoded_size(in.size()), '\0');
    out.resize(b64::encode(out.data(), in.data(), in.size()));
    return out;
}

std::string fromBase64(std::string_view in)
{
    namespace b64 = boost::beast::detail::base64;
    // decoded_size() rounds down, but decode() writes up to 3 bytes for a trailing partial group
    // of 2 or 3 characters: size for whole groups.
    std::string out((in.size() + 3) / 4 * 3, '\0');
    auto r = b64::decode(out.data(), in.data(), in.size());
    out.resize(r.first);
    return out;
}

} // namespace iterdeck::sandbox
