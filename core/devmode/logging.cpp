#include "logging.h"

Q_LOGGING_CATEGORY(lcDevmode, "iterdeck.devmode", QtWarningMsg)
