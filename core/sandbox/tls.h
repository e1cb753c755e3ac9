#pragma once
// The sandbox's certificates: a private CA, a server certificate for 127.0.0.1/localhost/::1,
// and client certificates for certificate-authenticated users. Made with OpenSSL on first start
// and kept in the data directory (PEM files, keys mode 0600); reused when present and valid.
#include <optional>
#include <string>
#include <vector>

namespace iterdeck::sandbox {

struct TlsMaterial
{
    std::string caCertPem;
    std::string caKeyPem;
    std::string serverCertPem;
    std::string serverKeyPem;
};

struct ClientCert
{
    std::string certPem;
    std::string keyPem;
};

// Loads dir/ca.crt, ca.key, server.crt, server.key, or makes them (EC P-256, SHA-256; CA valid
// 10 years, server 1 year; the server certificate is remade when it expires within 30 days or
// lacks one of the names). On failure returns nullopt and sets *error.
std::optional<TlsMaterial> loadOrCreateTls(const std::string &dir, std::string *error);

// Loads or makes dir/<fileStem>.crt/.key: a client certificate signed by the CA with
// CN=user and O=each group (the Kubernetes convention for user and groups).
std::optional<ClientCert> loadOrCreateClientCert(const std::string &dir, const std::string &fileStem,
                                                 const TlsMaterial &ca, const std::string &user,
                                                 const std::vector<std::string> &groups, std::string *error);

// The subject CN and O values of a peer certificate in PEM or of an X509* (for the server side).
struct CertIdentity
{
    std::string user;
    std::vector<std::string> groups;
};
std::optional<CertIdentity> identityOfPem(const std::string &certPem);

// A random URL-safe token of `bytes` random bytes (for bearer tokens).
std::string randomToken(int bytes = 24);

} // namespace iterdeck::sandbox
