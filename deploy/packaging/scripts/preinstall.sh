#!/bin/sh
# The services run as the system user linkmesh; keys in /etc/linkmesh are
# readable by its group (linkmesh certs ... --group linkmesh).
set -e
if ! getent group linkmesh >/dev/null; then
  groupadd --system linkmesh
fi
if ! getent passwd linkmesh >/dev/null; then
  useradd --system --gid linkmesh --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin --comment "linkmesh MI link monitoring" linkmesh
fi
