// The sandbox's certificates, made and checked with OpenSSL 3 (EVP and X509 APIs only).
#include "sandbox/tls.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

namespace iterdeck::sandbox {

namespace {

constexpr long kDay = 24L * 60 * 60;
constexpr int kCaDays = 3650;
constexpr int kServerDays = 365;
constexpr int kClientDays = 365;
constexpr int kRenewDays = 30; // remade when it expires within this many days

struct Deleter
{
    void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
    void operator()(X509 *p) const { X509_free(p); }
    void operator()(X509_EXTENSION *p) const { X509_EXTENSION_free(p); }
    void operator()(X509_STORE *p) const { X509_STORE_free(p); }
    void operator()(X509_STORE_CTX *p) const { X509_STORE_CTX_free(p); }
    void operator()(BIO *p) const { BIO_free(p); }
    void operator()(BIGNUM *p) const { BN_free(p); }
    void operator()(ASN1_INTEGER *p) const { ASN1_INTEGER_free(p); }
    void operator()(GENERAL_NAMES *p) const { GENERAL_NAMES_free(p); }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter>;
using X509Ptr = std::unique_ptr<X509, Deleter>;
using BioPtr = std::unique_ptr<BIO, Deleter>;

std::string opensslError(const std::string &what)
{
    std::string out = what;
    unsigned long code;
    bool first = true;
    while ((code = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(code, buf, sizeof buf);
        out += first ? ": " : "; ";
        out += buf;
        first = false;
    }
    return out;
}

void setError(std::string *error, const std::string &message)
{
    if (error)
        *error = message;
}

// ---- files

std::optional<std::string> readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return std::nullopt;
    std::ostringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        return std::nullopt;
    return ss.str();
}

// Writes atomically (temporary file + rename) with the given mode, so a key is never readable
// by others, not even for a moment, and a crash never leaves half a file.
bool writeFile(const std::string &path, const std::string &data, mode_t mode, std::string *error)
{
    const std::string tmp = path + ".tmp";
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        setError(error, tmp + ": " + std::strerror(errno));
        return false;
    }
    ::fchmod(fd, mode); // umask may have narrowed it; never widens beyond `mode`
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            setError(error, tmp + ": " + std::strerror(errno));
            ::close(fd);
            ::unlink(tmp.c_str());
            return false;
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        setError(error, tmp + ": " + std::strerror(errno));
        ::unlink(tmp.c_str());
        return false;
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        setError(error, path + ": " + std::strerror(errno));
        ::unlink(tmp.c_str());
        return false;
    }
    return true;
}

bool ensureDir(const std::string &dir, std::string *error)
{
    struct stat st
    {
    };
    if (::stat(dir.c_str(), &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return true;
        setError(error, dir + ": not a directory");
        return false;
    }
    // Create missing parents too.
    std::string partial;
    std::size_t pos = 0;
    while (pos != std::string::npos) {
        pos = dir.find('/', pos + 1);
        partial = dir.substr(0, pos);
        if (partial.empty())
            continue;
        if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
            setError(error, partial + ": " + std::strerror(errno));
            return false;
        }
    }
    return true;
}

// A reused key file keeps (or gets back) mode 0600.
void tightenKeyMode(const std::string &path)
{
    struct stat st
    {
    };
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0)
        ::chmod(path.c_str(), st.st_mode & 0700);
}

std::string joinPath(const std::string &dir, const std::string &name)
{
    if (dir.empty())
        return name;
    return dir.back() == '/' ? dir + name : dir + "/" + name;
}

// ---- PEM

PKeyPtr keyFromPem(const std::string &pem)
{
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return nullptr;
    return PKeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

X509Ptr certFromPem(const std::string &pem)
{
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio)
        return nullptr;
    return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string bioContents(BIO *bio)
{
    char *data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

std::string keyToPem(EVP_PKEY *key)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        return {};
    return bioContents(bio.get());
}

std::string certToPem(X509 *cert)
{
    BioPtr bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1)
        return {};
    return bioContents(bio.get());
}

// ---- making

PKeyPtr makeKey()
{
    return PKeyPtr(EVP_EC_gen("P-256"));
}

bool addExtension(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, Deleter> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

bool setRandomSerial(X509 *cert)
{
    std::unique_ptr<BIGNUM, Deleter> bn(BN_new());
    // 127 random bits: positive, and within the 20 octets RFC 5280 allows.
    if (!bn || BN_rand(bn.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
        return false;
    ASN1_INTEGER *serial = X509_get_serialNumber(cert);
    return BN_to_ASN1_INTEGER(bn.get(), serial) != nullptr;
}

struct SubjectPart
{
    const char *field;
    std::string value;
};

// A certificate for `key` with the given subject, signed by issuerKey (issuerCert null = self-signed).
X509Ptr makeCert(EVP_PKEY *key, const std::vector<SubjectPart> &subject, int days, X509 *issuerCert,
                 EVP_PKEY *issuerKey, const std::vector<std::pair<int, std::string>> &extensions)
{
    X509Ptr cert(X509_new());
    if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1 || !setRandomSerial(cert.get()))
        return nullptr;
    // Valid from an hour ago, so a slightly slow clock elsewhere does not reject it.
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600)
        || !X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(days) * kDay))
        return nullptr;
    if (X509_set_pubkey(cert.get(), key) != 1)
        return nullptr;
    X509_NAME *name = X509_get_subject_name(cert.get());
    for (const SubjectPart &part : subject) {
        if (X509_NAME_add_entry_by_txt(name, part.field, MBSTRING_UTF8,
                                       reinterpret_cast<const unsigned char *>(part.value.data()),
                                       static_cast<int>(part.value.size()), -1, 0)
            != 1)
            return nullptr;
    }
    X509 *issuer = issuerCert ? issuerCert : cert.get();
    if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer)) != 1)
        return nullptr;
    for (const auto &[nid, value] : extensions) {
        if (!addExtension(cert.get(), issuer, nid, value.c_str()))
            return nullptr;
    }
    if (X509_sign(cert.get(), issuerKey, EVP_sha256()) <= 0)
        return nullptr;
    return cert;
}

// ---- checking

bool keyMatches(X509 *cert, EVP_PKEY *key)
{
    return X509_check_private_key(cert, key) == 1;
}

// Seconds left until notAfter (negative when expired); nullopt when unreadable.
std::optional<long long> secondsLeft(X509 *cert)
{
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert)) != 1)
        return std::nullopt;
    return static_cast<long long>(days) * kDay + secs;
}

bool notYetValid(X509 *cert)
{
    return X509_cmp_current_time(X509_get0_notBefore(cert)) > 0;
}

bool expiresWithin(X509 *cert, int days)
{
    const auto left = secondsLeft(cert);
    return !left || *left <= static_cast<long long>(days) * kDay;
}

bool verifiedBy(X509 *cert, X509 *ca)
{
    std::unique_ptr<X509_STORE, Deleter> store(X509_STORE_new());
    std::unique_ptr<X509_STORE_CTX, Deleter> ctx(X509_STORE_CTX_new());
    if (!store || !ctx || X509_STORE_add_cert(store.get(), ca) != 1)
        return false;
    if (X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1)
        return false;
    const bool ok = X509_verify_cert(ctx.get()) == 1;
    ERR_clear_error();
    return ok;
}

bool hasServerNames(X509 *cert)
{
    return X509_check_ip_asc(cert, "127.0.0.1", 0) == 1 && X509_check_ip_asc(cert, "::1", 0) == 1
        && X509_check_host(cert, "localhost", 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
}

bool hasExtendedUsage(X509 *cert, uint32_t xku)
{
    const uint32_t flags = X509_get_extension_flags(cert);
    return (flags & EXFLAG_XKUSAGE) && (X509_get_extended_key_usage(cert) & xku);
}

bool isUsableCa(X509 *ca)
{
    return X509_check_ca(ca) >= 1 && !notYetValid(ca) && !expiresWithin(ca, 0);
}

// Subject entries of one kind (NID_commonName, NID_organizationName), in order.
std::vector<std::string> subjectEntries(X509 *cert, int nid)
{
    std::vector<std::string> out;
    X509_NAME *name = X509_get_subject_name(cert);
    int idx = -1;
    while ((idx = X509_NAME_get_index_by_NID(name, nid, idx)) >= 0) {
        X509_NAME_ENTRY *entry = X509_NAME_get_entry(name, idx);
        unsigned char *utf8 = nullptr;
        const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        if (len >= 0) {
            out.emplace_back(reinterpret_cast<const char *>(utf8), static_cast<size_t>(len));
            OPENSSL_free(utf8);
        }
    }
    return out;
}

std::optional<CertIdentity> identityOf(X509 *cert)
{
    const std::vector<std::string> cn = subjectEntries(cert, NID_commonName);
    if (cn.empty() || cn.front().empty())
        return std::nullopt;
    return CertIdentity {cn.front(), subjectEntries(cert, NID_organizationName)};
}

const char *kServerSan = "IP:127.0.0.1,IP:::1,DNS:localhost";

} // namespace

std::optional<TlsMaterial> loadOrCreateTls(const std::string &dir, std::string *error)
{
    if (!ensureDir(dir, error))
        return std::nullopt;
    const std::string caCertPath = joinPath(dir, "ca.crt"), caKeyPath = joinPath(dir, "ca.key");
    const std::string serverCertPath = joinPath(dir, "server.crt"), serverKeyPath = joinPath(dir, "server.key");

    TlsMaterial out;
    X509Ptr caCert;
    PKeyPtr caKey;

    // The CA: reused when both files parse, match and are still valid. A new CA invalidates
    // every certificate it signed, so the server certificate is remade with it.
    bool caFresh = false;
    {
        const auto certPem = readFile(caCertPath), keyPem = readFile(caKeyPath);
        if (certPem && keyPem) {
            caCert = certFromPem(*certPem);
            caKey = keyFromPem(*keyPem);
            if (caCert && caKey && keyMatches(caCert.get(), caKey.get()) && isUsableCa(caCert.get())) {
                out.caCertPem = *certPem;
                out.caKeyPem = *keyPem;
                tightenKeyMode(caKeyPath);
            } else {
                caCert.reset();
                caKey.reset();
            }
        }
        ERR_clear_error();
    }
    if (!caCert) {
        caKey = makeKey();
        if (!caKey) {
            setError(error, opensslError("cannot make the CA key"));
            return std::nullopt;
        }
        caCert
            = makeCert(caKey.get(), {{"CN", "iterdeck-sandbox-ca"}, {"O", "Iterdeck"}}, kCaDays, nullptr, caKey.get(),
                       {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                        {NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"},
                        {NID_subject_key_identifier, "hash"},
                        {NID_authority_key_identifier, "keyid:always"}});
        if (!caCert) {
            setError(error, opensslError("cannot make the CA certificate"));
            return std::nullopt;
        }
        out.caCertPem = certToPem(caCert.get());
        out.caKeyPem = keyToPem(caKey.get());
        if (out.caCertPem.empty() || out.caKeyPem.empty()) {
            setError(error, opensslError("cannot encode the CA"));
            return std::nullopt;
        }
        // Key first: a certificate on disk without its key would be useless.
        if (!writeFile(caKeyPath, out.caKeyPem, 0600, error) || !writeFile(caCertPath, out.caCertPem, 0644, error))
            return std::nullopt;
        caFresh = true;
    }

    // The server certificate: reused when signed by this CA, matching its key, holding all the
    // names and not expiring within kRenewDays.
    if (!caFresh) {
        const auto certPem = readFile(serverCertPath), keyPem = readFile(serverKeyPath);
        if (certPem && keyPem) {
            X509Ptr cert = certFromPem(*certPem);
            PKeyPtr key = keyFromPem(*keyPem);
            if (cert && key && keyMatches(cert.get(), key.get()) && verifiedBy(cert.get(), caCert.get())
                && hasServerNames(cert.get()) && hasExtendedUsage(cert.get(), XKU_SSL_SERVER)
                && !notYetValid(cert.get()) && !expiresWithin(cert.get(), kRenewDays)) {
                out.serverCertPem = *certPem;
                out.serverKeyPem = *keyPem;
                tightenKeyMode(serverKeyPath);
                ERR_clear_error();
                return out;
            }
        }
        ERR_clear_error();
    }

    PKeyPtr serverKey = makeKey();
    if (!serverKey) {
        setError(error, opensslError("cannot make the server key"));
        return std::nullopt;
    }
    X509Ptr serverCert = makeCert(serverKey.get(), {{"CN", "iterdeck-sandbox"}, {"O", "Iterdeck"}}, kServerDays,
                                  caCert.get(), caKey.get(),
                                  {{NID_basic_constraints, "critical,CA:FALSE"},
                                   {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                                   {NID_ext_key_usage, "serverAuth"},
                                   {NID_subject_key_identifier, "hash"},
                                   {NID_authority_key_identifier, "keyid:always"},
                                   {NID_subject_alt_name, kServerSan}});
    if (!serverCert) {
        setError(error, opensslError("cannot make the server certificate"));
        return std::nullopt;
    }
    out.serverCertPem = certToPem(serverCert.get());
    out.serverKeyPem = keyToPem(serverKey.get());
    if (out.serverCertPem.empty() || out.serverKeyPem.empty()) {
        setError(error, opensslError("cannot encode the server certificate"));
        return std::nullopt;
    }
    if (!writeFile(serverKeyPath, out.serverKeyPem, 0600, error)
        || !writeFile(serverCertPath, out.serverCertPem, 0644, error))
        return std::nullopt;
    return out;
}

std::optional<ClientCert> loadOrCreateClientCert(const std::string &dir, const std::string &fileStem,
                                                 const TlsMaterial &ca, const std::string &user,
                                                 const std::vector<std::string> &groups, std::string *error)
{
    if (user.empty()) {
        setError(error, "a client certificate needs a user name");
        return std::nullopt;
    }
    if (fileStem.empty() || fileStem.find('/') != std::string::npos || fileStem == "." || fileStem == "..") {
        setError(error, "invalid certificate file name: " + fileStem);
        return std::nullopt;
    }
    if (!ensureDir(dir, error))
        return std::nullopt;
    X509Ptr caCert = certFromPem(ca.caCertPem);
    PKeyPtr caKey = keyFromPem(ca.caKeyPem);
    if (!caCert || !caKey || !keyMatches(caCert.get(), caKey.get())) {
        setError(error, opensslError("the CA certificate or key is unreadable"));
        return std::nullopt;
    }
    const std::string certPath = joinPath(dir, fileStem + ".crt"), keyPath = joinPath(dir, fileStem + ".key");

    // Reused when signed by this CA, for the same identity, and not expiring soon.
    {
        const auto certPem = readFile(certPath), keyPem = readFile(keyPath);
        if (certPem && keyPem) {
            X509Ptr cert = certFromPem(*certPem);
            PKeyPtr key = keyFromPem(*keyPem);
            if (cert && key && keyMatches(cert.get(), key.get()) && verifiedBy(cert.get(), caCert.get())
                && hasExtendedUsage(cert.get(), XKU_SSL_CLIENT) && !notYetValid(cert.get())
                && !expiresWithin(cert.get(), kRenewDays)) {
                const auto identity = identityOf(cert.get());
                if (identity && identity->user == user && identity->groups == groups) {
                    tightenKeyMode(keyPath);
                    ERR_clear_error();
                    return ClientCert {*certPem, *keyPem};
                }
            }
        }
        ERR_clear_error();
    }

    PKeyPtr key = makeKey();
    if (!key) {
        setError(error, opensslError("cannot make the client key"));
        return std::nullopt;
    }
    std::vector<SubjectPart> subject;
    for (const std::string &group : groups)
        subject.push_back({"O", group});
    subject.push_back({"CN", user});
    X509Ptr cert = makeCert(key.get(), subject, kClientDays, caCert.get(), caKey.get(),
                            {{NID_basic_constraints, "critical,CA:FALSE"},
                             {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                             {NID_ext_key_usage, "clientAuth"},
                             {NID_authority_key_identifier, "keyid:always"}});
    if (!cert) {
        setError(error, opensslError("cannot make the client certificate for " + user));
        return std::nullopt;
    }
    ClientCert out {certToPem(cert.get()), keyToPem(key.get())};
    if (out.certPem.empty() || out.keyPem.empty()) {
        setError(error, opensslError("cannot encode the client certificate"));
        return std::nullopt;
    }
    if (!writeFile(keyPath, out.keyPem, 0600, error) || !writeFile(certPath, out.certPem, 0644, error))
        return std::nullopt;
    return out;
}

std::optional<CertIdentity> identityOfPem(const std::string &certPem)
{
    X509Ptr cert = certFromPem(certPem);
    ERR_clear_error();
    if (!cert)
        return std::nullopt;
    return identityOf(cert.get());
}

std::string randomToken(int bytes)
{
    if (bytes <= 0)
        bytes = 24;
    std::string raw(static_cast<size_t>(bytes), '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char *>(raw.data()), bytes) != 1)
        return {}; // no entropy: callers must not use an empty token
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((raw.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= raw.size(); i += 3) {
        const uint32_t v
            = (uint32_t(uint8_t(raw[i])) << 16) | (uint32_t(uint8_t(raw[i + 1])) << 8) | uint8_t(raw[i + 2]);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    const std::size_t rest = raw.size() - i;
    if (rest == 1) {
        const uint32_t v = uint32_t(uint8_t(raw[i])) << 16;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
    } else if (rest == 2) {
        const uint32_t v = (uint32_t(uint8_t(raw[i])) << 16) | (uint32_t(uint8_t(raw[i + 1])) << 8);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
    }
    return out;
}

} // namespace iterdeck::sandbox
