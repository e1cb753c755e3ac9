#pragma once

#include <QCoreApplication>

// Translation context of iterdeckctl's messages ("IterdeckCtl" in translations/*.ts).
class IterdeckCtl
{
    Q_DECLARE_TR_FUNCTIONS(IterdeckCtl)
};
