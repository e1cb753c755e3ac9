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
    std::string out(b64::decoded_size(in.size()), '\0');
    auto r = b64::decode(out.data(), in.data(), in.size());
    out.resize(r.first);
    return out;
}

} // namespace iterdeck::sandbox
