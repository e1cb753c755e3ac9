#include "logging.h"

Q_LOGGING_CATEGORY(lcBot, "iterdeck.bot", QtInfoMsg)
