#pragma once

#include "model/event.h"

#include <QList>

namespace iterdeck::bot {

// Told about events after they are committed, in sequence order. The environment manager, the
// IM adapters and the desktop stream implement it; a sink must not block (queue long work).
class EventSink
{
public:
    virtual ~EventSink() = default;
    virtual void eventsCommitted(const QList<model::Event> &events) = 0;
};

} // namespace iterdeck::bot
