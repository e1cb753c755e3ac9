#pragma once

class QCoreApplication;

namespace iterdeck {

// Installs the translation matching the user's UI languages (embedded at :/i18n),
// plus Qt's own where available. English needs none.
void installTranslations(QCoreApplication &app);

} // namespace iterdeck
