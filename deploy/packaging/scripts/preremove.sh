#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl stop linkmesh-probe.service linkmesh-coordinator.service 2>/dev/null || true
  systemctl disable linkmesh-probe.service linkmesh-coordinator.service 2>/dev/null || true
fi
