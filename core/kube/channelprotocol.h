#pragma once
// The Kubernetes channel protocols on top of WebSocket messages (v4/v5.channel.k8s.io): every
// message is [channel byte][payload]. Exec: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize,
// 255 half-close (v5). Port-forward: data 2i and error 2i+1 for the i-th port, each opened by
// the port as 2 bytes little-endian. Socket-free, for the fuzz target and tests.
// Facts: shared/reference/kube-protocol.md §5, §6.
#include "kubeerror.h"

#include <QByteArray>
#include <QByteArrayView>

namespace iterdeck::kube::channel {

inline constexpr quint8 Stdin = 0;
inline constexpr quint8 Stdout = 1;
inline constexpr quint8 Stderr = 2;
inline constexpr quint8 Status = 3;
inline constexpr quint8 Resize = 4;
inline constexpr quint8 Close = 255; // v5: [255, n] half-closes channel n

inline constexpr char ProtocolV5[] = "v5.channel.k8s.io";
inline constexpr char ProtocolV4[] = "v4.channel.k8s.io";

// The end of a command, from the status channel (a Status object without kind):
// Success -> exit code 0; Failure/NonZeroExitCode with an ExitCode cause -> that code
// (0..255); any other Failure -> a Server error (exitCode -1); anything unparsable -> a
// Decode error.
struct ExecResult
{
    int exitCode = -1;
    KubeError error;
};
ExecResult parseExecStatus(QByteArrayView statusJson);

// {"Width":W,"Height":H}
QByteArray resizePayload(int columns, int rows);

// The first message on a port-forward channel: exactly two bytes, the port little-endian.
// False when the payload is anything else.
bool parsePortPrefix(QByteArrayView payload, quint16 *port);

} // namespace iterdeck::kube::channel
