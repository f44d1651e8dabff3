# Developer and CI entry points. `make ci` is what CI runs (via .ci/run).
CARGO ?= cargo

.PHONY: run test lint fmt fmt-check ci migrate loadtest loadtest-pg bench fuzz api-fuzz docker-build docker-run compose-up compose-down test-docker

run: ## Run the service (in-memory storage unless DATABASE_URL is set)
	$(CARGO) run

test: ## Run every test; the Postgres ones need DATABASE_URL (skipped without it, except under CI)
	$(CARGO) test --locked

lint: ## Clippy with warnings as errors
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

ci: fmt-check lint test ## What CI gates on

migrate: ## Apply pending migrations to DATABASE_URL
	$(CARGO) run -- migrate

LOADTEST_SECONDS ?= 10
LOADTEST_CONCURRENCY ?= 32
LOADTEST_PORT ?= 8099
LOADTEST_WORKLOADS ?= W1,W2,W3,W4,W5
LOADTEST_RUNS ?= 3
# The load-test database, recreated by loadtest-pg. TLS is off: it is on loopback, where TLS
# only adds CPU (about 15% of W4 here); set LOADTEST_PG_OPTIONS= to measure with it.
LOADTEST_PG_SERVER ?= postgres://postgres@127.0.0.1:5432
LOADTEST_PG_DATABASE ?= auth_loadtest
LOADTEST_PG_OPTIONS ?= sslmode=disable
LOADTEST_ENV = LOADTEST_SECONDS=$(LOADTEST_SECONDS) LOADTEST_CONCURRENCY=$(LOADTEST_CONCURRENCY) \
  LOADTEST_PORT=$(LOADTEST_PORT) LOADTEST_WORKLOADS=$(LOADTEST_WORKLOADS) LOADTEST_RUNS=$(LOADTEST_RUNS)

loadtest: ## W1–W5 against an in-memory release build, LOADTEST_RUNS (3) times; prints the medians
	$(LOADTEST_ENV) LOADTEST_DATABASE_URL= bash scripts/loadtest.sh

loadtest-pg: ## The same against Postgres (LOADTEST_PG_DATABASE on LOADTEST_PG_SERVER, recreated first)
	psql "$(LOADTEST_PG_SERVER)/postgres" -qc 'DROP DATABASE IF EXISTS $(LOADTEST_PG_DATABASE)' -c 'CREATE DATABASE $(LOADTEST_PG_DATABASE)'
	$(LOADTEST_ENV) LOADTEST_DATABASE_URL='$(LOADTEST_PG_SERVER)/$(LOADTEST_PG_DATABASE)?$(LOADTEST_PG_OPTIONS)' bash scripts/loadtest.sh

bench: ## Criterion micro-benchmarks: Argon2id verify, ES256 sign/verify, one refresh rotation
	$(CARGO) bench --locked --bench hot_paths

FUZZ_SECONDS ?= 60
fuzz: ## Property-based fuzzing of token verification, OAuth parsing, PKCE and redirects (FUZZ_SECONDS per target)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --locked --test fuzz -- --test-threads=2

API_FUZZ_EXAMPLES ?= 50
api-fuzz: ## schemathesis against /openapi.json of a dev server: no 5xx, nothing off-schema
	API_FUZZ_EXAMPLES=$(API_FUZZ_EXAMPLES) bash scripts/api-fuzz.sh

IMAGE ?= auth-service:latest
docker-build: ## Build the runtime image (IMAGE)
	docker build -f docker/Dockerfile --target runtime -t $(IMAGE) .

docker-run: ## Run the runtime image in dev mode (in-memory) on port 8000
	docker run --rm -p 127.0.0.1:8000:8000 -e APP_ENV=dev $(IMAGE)

docker/secrets/jwt-signing-key.pem:
	mkdir -p docker/secrets
	docker run --rm $(IMAGE) keys generate > $@
	chmod 644 $@

compose-up: docker-build docker/secrets/jwt-signing-key.pem ## Postgres + the service (prod mode) on port 8000
	AUTH_IMAGE=$(IMAGE) docker compose -f docker/docker-compose.yml up -d --wait

compose-down: ## Stop them (the database volume stays)
	docker compose -f docker/docker-compose.yml down

test-docker: docker-build ## Smoke test of the runtime image through compose (needs a Docker engine)
	AUTH_IMAGE=$(IMAGE) bash scripts/test-docker.sh
