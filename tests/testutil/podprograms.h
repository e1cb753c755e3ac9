#pragma once
// Programs that test and benchmark pods run (python3 from the host, as every sandbox image has).

namespace iterdeck::testing {

// Serves on $POD_IP: $ECHO_PORT echoes, $SOURCE_PORT sends "N\n"-requested bytes of a pattern
// then closes.
inline constexpr const char *echoServer = R"(
import os, socket, threading
def echo(c):
    while True:
        d = c.recv(262144)
        if not d:
            break
        c.sendall(d)
    c.close()
def source(c):
    n = int(c.makefile('rb').readline())
    block = bytes(range(256)) * 1024
    while n > 0:
        k = min(n, len(block))
        c.sendall(block[:k])
        n -= k
    c.close()
def serve(port, handler):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((os.environ['POD_IP'], port))
    s.listen(64)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handler, args=(c,), daemon=True).start()
threading.Thread(target=serve, args=(int(os.environ['SOURCE_PORT']), source), daemon=True).start()
serve(int(os.environ['ECHO_PORT']), echo)
)";

} // namespace iterdeck::testing
