#pragma once

// The receiving end of a sync (what iterdeck-agent runs): applies the source's operations
// beneath its root, refusing anything that would leave it. No Qt.

#include "channel.h"
#include "safefs.h"

#include <functional>
#include <string>

namespace iterdeck::sync {

class Replica
{
public:
    explicit Replica(SafeRoot &root);
    // Serves one connection until the peer closes (returns 0) or a protocol error (returns 1,
    // after telling the peer with a Fatal frame when it can). `log` gets one line per problem.
    int serve(Channel &channel, const std::function<void(const std::string &)> &log);

private:
    SafeRoot &m_root;
};

} // namespace iterdeck::sync
