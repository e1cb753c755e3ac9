#pragma once
// Kubernetes manifests in YAML or JSON: one or more documents, `kind: List` expanded, each
// object with the position it was written at, so that problems read FILE:LINE:COL.
#include "common/diagnostic.h"
#include "config/sourcetext.h"

#include <QJsonObject>
#include <QList>

namespace iterdeck::kube {

struct Manifest
{
    QJsonObject object;
    SourceLocation where;
};

// Appends the objects of `src` to `out`. Every document must be a mapping with apiVersion,
// kind and metadata.name (or generateName); problems go to `diag`. False when there was any.
bool parseManifests(const config::SourceText &src, QList<Manifest> &out, Diagnostics &diag);

} // namespace iterdeck::kube
