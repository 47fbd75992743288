#!/bin/sh
# Builds the optional N-API addon (punch-hole UNMAP, SEEK_DATA/SEEK_HOLE) used by the
# fileio and block backstores. node-gyp needs Node's headers, which Debian puts in /usr.
set -e
cd "$(dirname "$0")"
GYP="$(dirname "$(dirname "$(readlink -f "$(which npm)")")")/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$GYP" ] || GYP=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
npm_config_nodedir="${npm_config_nodedir:-/usr}" node "$GYP" rebuild
