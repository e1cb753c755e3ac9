#include "logging.h"

Q_LOGGING_CATEGORY(lcDeploy, "iterdeck.deploy", QtWarningMsg)
