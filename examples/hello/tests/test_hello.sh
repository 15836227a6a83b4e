#!/bin/sh
# The released binary greets.
set -eu
out=$("${1:-dist/hello}")
[ "$out" = "Hello from a reproducible release." ]
