#!/usr/bin/env python3
"""Byte meter for a stdio transport: relays our stdin -> CMD stdin and CMD stdout -> our stdout,
counting both directions. On exit appends "<bytes_in> <bytes_out>\n" to OUTFILE and exits with CMD's code.
   usage: meter.py OUTFILE CMD [ARGS...]
Used as the "remote shell" for rsync (rsh-meter.sh), unison (-sshcmd) and the iterdeck {meter} placeholder.
With SYNCBENCH_METER_LIVE=1 the running totals are also kept in OUTFILE.live (rewritten every 20 ms).
Relaying costs one extra copy per direction (64 KiB reads); timings taken through the meter include that."""
import os, subprocess, sys, threading, time

def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    counts = [0, 0]

    def pump(src_fd, dst_fd, idx, close_dst):
        try:
            while True:
                b = os.read(src_fd, 1 << 16)
                if not b:
                    break
                counts[idx] += len(b)
                mv = memoryview(b)
                while mv:
                    n = os.write(dst_fd, mv)
                    mv = mv[n:]
        except OSError:
            pass
        finally:
            if close_dst:
                try:
                    os.close(dst_fd)
                except OSError:
                    pass

    t_in = threading.Thread(target=pump, args=(0, p.stdin.fileno(), 0, True), daemon=True)
    t_out = threading.Thread(target=pump, args=(p.stdout.fileno(), 1, 1, False))
    t_in.start(); t_out.start()
    if os.environ.get("SYNCBENCH_METER_LIVE") == "1" and out != os.devnull:
        # long-lived relays (a watcher): publish the running totals to OUTFILE.live every 20 ms, so the harness
        # can read the bytes of one operation while the stream stays open
        def live():
            last = None
            while True:
                cur = (counts[0], counts[1])
                if cur != last:
                    tmp = f"{out}.live.tmp"
                    with open(tmp, "w") as f:
                        f.write(f"{cur[0]} {cur[1]}\n")
                    os.replace(tmp, f"{out}.live")
                    last = cur
                time.sleep(0.02)
        threading.Thread(target=live, daemon=True).start()
    t_out.join()
    rc = p.wait()
    with open(out, "a") as f:
        f.write(f"{counts[0]} {counts[1]}\n")
    os._exit(rc)

if __name__ == "__main__":
    main()
