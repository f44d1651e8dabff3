# Developer and CI entry points. `make ci` is what CI runs (via .ci/run).
CARGO ?= cargo

.PHONY: run test lint fmt fmt-check ci migrate login-flood fuzz

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

login-flood: ## /health latency during 100 concurrent wrong-password sign-ins (release build, in-memory)
	$(CARGO) build --release --locked --bin auth-service --example login_flood
	@APP_ENV=dev LOG_LEVEL=warning PORT=8099 DATABASE_URL= ./target/release/auth-service & \
	  pid=$$!; \
	  for _ in $$(seq 50); do curl -sf http://127.0.0.1:8099/health >/dev/null && break; sleep 0.1; done; \
	  ./target/release/examples/login_flood http://127.0.0.1:8099 100 10; status=$$?; \
	  kill $$pid; wait $$pid; exit $$status

FUZZ_SECONDS ?= 60
fuzz: ## Property-based fuzzing of token verification, OAuth parsing, PKCE and redirects (FUZZ_SECONDS per target)
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(CARGO) test --locked --test fuzz -- --test-threads=2
