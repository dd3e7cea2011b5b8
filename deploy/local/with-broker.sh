#!/usr/bin/env bash
# Run a command (the test suite) with the local Kafka broker up, and stop the broker
# afterwards, even when the command fails or is interrupted, if this script started it.
# With KAFKA_BOOTSTRAP_SERVERS set, the command runs against that cluster instead.
set -euo pipefail
hub=${HUB:-lapor-hub}

if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "with-broker: using KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
  exec "$@"
fi

if ! "$hub" broker status --nodes 1 --bootstrap >/dev/null 2>&1; then
  trap '"$hub" broker stop --nodes 1' EXIT
  trap 'exit 130' INT TERM
fi
"$hub" broker start
KAFKA_BOOTSTRAP_SERVERS=$("$hub" broker status --nodes 1 --bootstrap)
export KAFKA_BOOTSTRAP_SERVERS
# the SASL_SSL listener and the CA its clients trust (for the access-control tests)
read -r KAFKA_SECURE_BOOTSTRAP_SERVERS KAFKA_SSL_CA_LOCATION < <("$hub" broker status --nodes 1 --secure)
export KAFKA_SECURE_BOOTSTRAP_SERVERS KAFKA_SSL_CA_LOCATION
echo "with-broker: KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS (SASL_SSL: $KAFKA_SECURE_BOOTSTRAP_SERVERS)"
"$@"
