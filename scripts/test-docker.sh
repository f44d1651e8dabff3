#!/usr/bin/env bash
# Smoke test of the runtime image as users run it: Postgres and the service through compose
# in prod mode, then over HTTP: /health, /docs and /openapi.json 404, a client made with
# `create-client`, and a client_credentials token issued, introspected, revoked. Also checks
# the image: under 40 MB, a non-root user. Needs a Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."
image="${AUTH_IMAGE:-auth-service:latest}"
port="${API_PORT:-8000}"
export AUTH_IMAGE="$image" API_PORT="$port" APP_ENV=prod
compose=(docker compose -f docker/docker-compose.yml -p auth-service-smoke)
base="http://127.0.0.1:$port"

fail() { echo "test-docker: $*" >&2; exit 1; }

size=$(docker image inspect -f '{{.Size}}' "$image")
echo "image $image: $((size / 1024 / 1024)) MB"
[ "$size" -lt $((40 * 1024 * 1024)) ] || fail "the runtime image is $size bytes (limit 40 MB)"
user=$(docker image inspect -f '{{.Config.User}}' "$image")
[ -n "$user" ] && [ "${user%%:*}" != "0" ] && [ "${user%%:*}" != "root" ] || fail "runs as '$user'"

mkdir -p docker/secrets
[ -s docker/secrets/jwt-signing-key.pem ] || {
  docker run --rm "$image" keys generate > docker/secrets/jwt-signing-key.pem
  # Read by the container's appuser through a bind mount: world-readable, in a gitignored
  # folder of a developer's checkout only.
  chmod 644 docker/secrets/jwt-signing-key.pem
}

trap '"${compose[@]}" down -v >/dev/null 2>&1 || true' EXIT
"${compose[@]}" up -d --wait

curl -sf "$base/health" | grep -q '"database":"ok"' || fail "/health does not report the database ok"
for path in /docs /openapi.json; do
  status=$(curl -s -o /dev/null -w '%{http_code}' "$base$path")
  [ "$status" = 404 ] || fail "$path answered $status in prod"
done

creds=$(echo '{"client_name":"smoke","token_endpoint_auth_method":"client_secret_basic","grant_types":["client_credentials"]}' \
  | "${compose[@]}" exec -T api /usr/local/bin/auth-service create-client)
field() { python3 -c "import sys, json; print(json.load(sys.stdin)[\"$1\"])"; }
id=$(printf %s "$creds" | field client_id)
secret=$(printf %s "$creds" | field client_secret)
token=$(curl -sf -u "$id:$secret" "$base/oauth/token" -d grant_type=client_credentials -d scope=openid | field access_token)
curl -sf -u "$id:$secret" "$base/oauth/introspect" -d token="$token" | grep -q '"active":true' \
  || fail "the new token is not active"
curl -sf -u "$id:$secret" "$base/oauth/revoke" -d token="$token" >/dev/null
curl -sf -u "$id:$secret" "$base/oauth/introspect" -d token="$token" | grep -q '"active":false' \
  || fail "the revoked token is still active"
curl -sf "$base/metrics" | grep -q 'auth_tokens_issued_total{grant_type="client_credentials"} 1' \
  || fail "/metrics did not count the token"
echo "test-docker: ok"
