#!/bin/sh
# rsync -e / unison -sshcmd stand-in for ssh: drop the host (and unison's "-e none"), run the remote command locally over stdio.
shift; [ "$1" = "-e" ] && shift 2; exec "$@"
