-- Roles, OAuth clients, authorization codes, refresh tokens and the access-token deny-list.
ALTER TABLE app_user ADD COLUMN roles TEXT[] NOT NULL DEFAULT '{user}';

CREATE TABLE oauth_client (
    oauth_client_id TEXT        PRIMARY KEY,
    -- SHA-256 of the secret; NULL exactly for public clients.
    secret_hash     BYTEA,
    auth_method     TEXT        NOT NULL
                    CONSTRAINT oauth_client_auth_method_known
                    CHECK (auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
    redirect_uris   TEXT[]      NOT NULL,
    grant_types     TEXT[]      NOT NULL,
    scope           TEXT        NOT NULL,
    client_name     TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT oauth_client_secret_iff_confidential
        CHECK ((auth_method = 'none') = (secret_hash IS NULL))
);

CREATE TABLE authorization_code (
    code_hash                BYTEA       PRIMARY KEY,
    oauth_client_id          TEXT        NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
    app_user_id              UUID        NOT NULL REFERENCES app_user ON DELETE CASCADE,
    redirect_uri             TEXT        NOT NULL,
    scope                    TEXT        NOT NULL,
    code_challenge           TEXT        NOT NULL,
    created_at               TIMESTAMPTZ NOT NULL,
    expires_at               TIMESTAMPTZ NOT NULL,
    -- Set together, once, by the single winning exchange.
    consumed_at              TIMESTAMPTZ,
    issued_access_jti        UUID,
    issued_access_expires_at TIMESTAMPTZ,
    issued_family_id         UUID
);
CREATE INDEX authorization_code_expires_at_idx ON authorization_code (expires_at);

CREATE TABLE refresh_token (
    token_hash        BYTEA       PRIMARY KEY,
    family_id         UUID        NOT NULL,
    oauth_client_id   TEXT        NOT NULL REFERENCES oauth_client ON DELETE CASCADE,
    app_user_id       UUID        NOT NULL REFERENCES app_user ON DELETE CASCADE,
    scope             TEXT        NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    family_expires_at TIMESTAMPTZ NOT NULL,
    used_at           TIMESTAMPTZ,
    revoked_at        TIMESTAMPTZ,
    access_jti        UUID        NOT NULL,
    access_expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX refresh_token_family_id_idx ON refresh_token (family_id);
CREATE INDEX refresh_token_app_user_id_idx ON refresh_token (app_user_id);
CREATE INDEX refresh_token_family_expires_at_idx ON refresh_token (family_expires_at);

-- Access tokens revoked before their `exp`; a row is useless once `expires_at` has passed.
CREATE TABLE revoked_access_token (
    jti        UUID        PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_access_token_expires_at_idx ON revoked_access_token (expires_at);
