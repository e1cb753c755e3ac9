#pragma once
// kubectl's port-forward over SPDY/3.1, served as the kubelet does
// (pkg/kubelet/cri/streaming/portforward/httpstream.go): the client opens an error stream and a
// data stream per local connection (headers streamtype, port, requestid), the server replies to
// each, pairs them by request id, dials the pod and pipes bytes both ways; failures are written as
// text on the error stream.
#include "sandbox/httpserver.h"

#include <boost/asio/io_context.hpp>

#include <cstddef>
#include <memory>
#include <string>

namespace iterdeck::sandbox {

struct PortForwardTarget
{
    std::string pod; // name, for error messages
    std::string uid;
    std::string ip; // where the pod's ports are
};

struct SpdyForwardOptions
{
    // Bytes on their way to one pod connection before the client's stream stops being read.
    std::size_t podQueueHigh = 1024 * 1024;
    // Bytes queued towards the client before pod connections stop being read.
    std::size_t clientQueueHigh = 1024 * 1024;
    int streamPairTimeoutSeconds = 30; // the kubelet's stream creation timeout
};

// Serves one SPDY connection on `channel` until either side closes it.
void serveSpdyPortForward(boost::asio::io_context &io, std::shared_ptr<ByteChannel> channel, PortForwardTarget target,
                          SpdyForwardOptions options = {});

// The SPDY byte stream inside a WebSocket (kubectl's SPDY/3.1+portforward.k8s.io tunnel): binary
// message payloads concatenated in, each send() one binary message out, close() = close 1000.
std::shared_ptr<ByteChannel> byteChannelOverWebSocket(std::shared_ptr<WebSocketChannel> ws);

} // namespace iterdeck::sandbox
