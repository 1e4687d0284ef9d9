# shellcheck shell=bash
# schemathesis (PyPI) against a real `ftpman serve`: it reads /api/v1/openapi.json and sends
# generated requests to every operation; no answer may be a 5xx and every answer must match the
# document. Operations that would make ftpman connect to the host names schemathesis invents
# (adding sites, SMTP and webhook settings) are left to the API tests, which use the loopback
# test servers: no traffic may leave loopback.
# `run_api_conformance FTPMAN_BIN VENV MAX_EXAMPLES`

run_api_conformance() {
  local bin=$1 venv=$2 examples=$3
  if [[ ! -x "$venv/bin/schemathesis" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "schemathesis>=4.32,<5" >&2
  fi
  local dir; dir=$(mktemp -d /tmp/ftpman-api.XXXXXX)
  local db="sqlite://$dir/ftpman.db"
  export ENCRYPTION_KEY=MzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzMzM=
  mkdir -p "$dir/in" "$dir/out"
  echo "a file" > "$dir/in/a.txt"
  "$bin" --db "$db" site add inbox --url "file://$dir/in" >/dev/null
  "$bin" --db "$db" site add outbox --url "file://$dir/out" >/dev/null
  "$bin" --db "$db" job add copy --from inbox:/ --to outbox:/ --schedule "0 3 * * *" >/dev/null
  echo "a long password for the checks" | "$bin" --db "$db" user add checker --role admin --password-stdin >/dev/null
  local token
  token=$("$bin" --db "$db" --json token create schemathesis --user checker --role admin \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
  "$bin" --db "$db" job run copy >/dev/null
  local port; port=$(free_port)
  "$bin" --db "$db" serve --bind "127.0.0.1:$port" --no-scheduler > "$dir/serve.log" 2>&1 &
  local pid=$!
  wait_port "$port" "ftpman serve" "$dir/serve.log"
  local status=0
  "$venv/bin/schemathesis" run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --max-examples "$examples" --seed 1 --workers 1 \
    --checks not_a_server_error,response_schema_conformance,content_type_conformance \
    --exclude-operation-id-regex '^(add_site|edit_site|set_setting|unset_setting|smtp_test|revoke_token|remove_user|logout)$' \
    --report-dir "$dir/report" || status=$?
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if [[ $status -ne 0 ]]; then
    echo "schemathesis failed; the server's log:" >&2
    tail -50 "$dir/serve.log" >&2
  fi
  rm -rf "$dir"
  return "$status"
}
