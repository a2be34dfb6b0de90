#!/bin/sh
# Serve app/www on the port given (8080 by default) with busybox's httpd, in the foreground.
echo "hello-app $APP_VERSION serving on port ${1:-8080}"
exec httpd -f -p "${1:-8080}" -h "$(dirname "$0")/www"
