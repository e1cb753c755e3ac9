#!/bin/sh
# Same as rsh-wrapper.sh, but the stdio stream goes through meter.py, which appends "in out" byte counts to $SYNCBENCH_METER_OUT.
shift; [ "$1" = "-e" ] && shift 2
exec python3 "$(dirname "$0")/meter.py" "${SYNCBENCH_METER_OUT:-/dev/null}" "$@"
