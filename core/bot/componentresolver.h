#pragma once

#include "model/teammanifest.h"
#include "webhook.h"

#include <QString>

namespace iterdeck::bot {

// Finds the manifest component a published artifact belongs to, from the hints its sender gave:
// an explicit component name; else the image (exact, or by repository path when only one
// component has that path: registries report the host the pusher used, which may differ);
// else the source repository ("owner/repo", a path or a Git URL; compared without host,
// ".git" and case); else a CI job named like the component.
class ComponentResolver
{
public:
    explicit ComponentResolver(const model::TeamManifest &manifest)
        : m_manifest(manifest)
    { }

    // The component's name, or empty with *why set.
    QString resolve(const ArtifactPublished &artifact, QString *why) const;

    // "https://git.example.com/Shop/API.git" -> "shop/api"; "git@host:shop/api.git" -> "shop/api".
    static QString repositoryPath(const QString &repository);
    // "registry.example.com:5000/shop/api" -> "shop/api"; "shop/api" -> "shop/api".
    static QString imagePath(const QString &image);

private:
    const model::TeamManifest &m_manifest;
};

} // namespace iterdeck::bot
