#!/usr/bin/env bash
# Prints an access token for the dev seed account (test@example.com) through the real code
# flow with PKCE, against a dev server at $1 (default http://127.0.0.1:8000). The dev server
# seeds the account and the public client `dev-client`.
set -euo pipefail
base="${1:-http://127.0.0.1:8000}"
jar="$(mktemp)"
trap 'rm -f "$jar"' EXIT

curl -sf -c "$jar" -o /dev/null "$base/auth/login" -H 'content-type: application/json' \
  -d '{"email":"test@example.com","password":"test-password"}'
verifier=$(openssl rand -base64 48 | tr '+/' '-_' | tr -d '=\n')
challenge=$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
location=$(curl -s -b "$jar" -o /dev/null -w '%{redirect_url}' \
  "$base/oauth/authorize?response_type=code&client_id=dev-client&redirect_uri=http://localhost:5173/callback&code_challenge=$challenge&code_challenge_method=S256&scope=openid%20profile")
code=$(printf %s "$location" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
if [ -z "$code" ]; then
  echo "no code in the authorize redirect: $location" >&2
  exit 1
fi
curl -sf "$base/oauth/token" -d grant_type=authorization_code -d code="$code" \
  -d redirect_uri=http://localhost:5173/callback -d client_id=dev-client -d code_verifier="$verifier" \
  | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])'
