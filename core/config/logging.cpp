#include "logging.h"

Q_LOGGING_CATEGORY(lcConfig, "iterdeck.config", QtWarningMsg)
