#include "logging.h"

Q_LOGGING_CATEGORY(lcIm, "iterdeck.im", QtWarningMsg)
