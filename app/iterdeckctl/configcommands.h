#pragma once

#include <QString>
#include <QStringList>

#include <cstdio>

namespace iterdeck::ctl {

struct ConfigCheckOptions
{
    QStringList files;
    QString kind; // "", "team" or "dev"
    bool quiet = false;
};

struct ConfigShowOptions
{
    QString file;
    QString kind;
};

// Exit codes: 0 all valid (warnings allowed), 1 some file invalid, 2 usage error.
int runConfigCheck(const ConfigCheckOptions &options, FILE *out);
int runConfigShow(const ConfigShowOptions &options, FILE *out);

} // namespace iterdeck::ctl
