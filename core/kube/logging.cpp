#include "logging.h"

Q_LOGGING_CATEGORY(lcKube, "iterdeck.kube", QtWarningMsg)
