#!/bin/sh
# The user, /etc/linkmesh (certificates, keys, config) and the state in
# /var/lib stay: removing the package loses no data. Remove them by hand.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
