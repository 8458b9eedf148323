#!/bin/bash
# bench/desync.sh - the hostile HTTP corpus against tristack-lb and HAProxy
# 2.6 on the same recording backends: malformed requests let through and
# hidden requests forwarded, both side by side. See bench/desync.py.
set -eu
exec /usr/bin/python3 "$(dirname "$0")/desync.py" "$@"
