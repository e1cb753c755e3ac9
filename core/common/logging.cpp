#include "logging.h"

Q_LOGGING_CATEGORY(lcCommon, "iterdeck.common", QtWarningMsg)
