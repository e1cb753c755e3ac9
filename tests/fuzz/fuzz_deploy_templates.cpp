// libFuzzer entry point: arbitrary bytes as a deploy template of the manifests driver, rendered
// with a fixed set of variables and parsed as Kubernetes manifests.
#include "config/sourcetext.h"
#include "deploy/manifestsdriver.h"

#include <QHash>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    using namespace iterdeck;
    static const QHash<QString, QString> vars
        = {{QStringLiteral("namespace"), QStringLiteral("env-a")},
           {QStringLiteral("image"), QStringLiteral("registry.example.com/web:1.0")},
           {QStringLiteral("values.replicas"), QStringLiteral("2")},
           {QStringLiteral("domain"), QStringLiteral("a.example.com")}};
    const QByteArray text(reinterpret_cast<const char *>(data), qsizetype(size));
    Diagnostics diag;
    const QByteArray rendered = deploy::renderManifestTemplate(QStringLiteral("t.yaml"), text, vars, diag);
    if (diag.hasErrors()) {
        // Every error is positioned inside the input.
        for (const Diagnostic &d : diag.items()) {
            if (d.where.line < 1 || d.where.line > text.count('\n') + 1)
                __builtin_trap();
        }
        return 0;
    }
    QList<kube::Manifest> manifests;
    Diagnostics parse;
    kube::parseManifests(config::SourceText(QStringLiteral("t.yaml"), rendered), manifests, parse);
    return 0;
}
