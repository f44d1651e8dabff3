-- Users and browser sessions.
CREATE TABLE app_user (
    app_user_id   UUID        PRIMARY KEY,
    -- Normalised (trimmed, lower-cased) by the service, so a plain unique constraint is
    -- case-insensitive uniqueness.
    email         TEXT        NOT NULL CONSTRAINT app_user_email_key UNIQUE,
    name          TEXT        NOT NULL,
    password_hash TEXT        NOT NULL,
    is_active     BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE user_session (
    user_session_id UUID        PRIMARY KEY,
    -- SHA-256 of the cookie secret; the secret itself is never stored.
    token_hash      BYTEA       NOT NULL CONSTRAINT user_session_token_hash_key UNIQUE
                                CONSTRAINT user_session_token_hash_len CHECK (octet_length(token_hash) = 32),
    app_user_id     UUID        NOT NULL
                                CONSTRAINT user_session_app_user_id_fkey
                                REFERENCES app_user (app_user_id) ON DELETE CASCADE,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX user_session_app_user_id_idx ON user_session (app_user_id);
CREATE INDEX user_session_expires_at_idx ON user_session (expires_at);
