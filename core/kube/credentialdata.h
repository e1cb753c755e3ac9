#pragma once
// Credential material as kubeconfigs and exec plugins give it: PEM certificates and keys, and
// the small files they live in. Private to the kube library (kubeconfig.cpp checks the chosen
// entries at load, credentials.cpp converts and re-reads).
#include "common/expected.h"

#include <QByteArray>
#include <QList>
#include <QSslCertificate>
#include <QSslKey>
#include <QString>

namespace iterdeck::kube::detail {

struct ClientCertificate
{
    QSslCertificate leaf;
    QList<QSslCertificate> chain; // intermediates after the leaf
    QSslKey key;
};

// Parses a certificate (the leaf first, then any intermediates) and its private key, both PEM.
// RSA and EC keys, in PKCS#1, SEC1 or PKCS#8 form. Fails with a readable reason when either
// does not parse, the key is encrypted or of another type, or the key is not the certificate's.
Expected<ClientCertificate, QString> parseClientCertificate(const QByteArray &certPem, const QByteArray &keyPem);

// Reads a certificate, key or token file: it must exist, be a regular file (never a FIFO or a
// device that would block or never end) and be small. The error is the reason alone.
Expected<QByteArray, QString> readCredentialFile(const QString &path);

// Certificates in a PEM bundle (a cluster's certificate authority); empty when there is none.
QList<QSslCertificate> parseCertificates(const QByteArray &pem);

} // namespace iterdeck::kube::detail
