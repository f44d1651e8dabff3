-- Organizations (tenants) and their members.
CREATE TABLE organization (
    organization_id UUID        PRIMARY KEY,
    name            TEXT        NOT NULL,
    slug            TEXT        NOT NULL CONSTRAINT organization_slug_key UNIQUE,
    status          TEXT        NOT NULL DEFAULT 'active'
                    CONSTRAINT organization_status_known CHECK (status IN ('active', 'suspended')),
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE org_membership (
    organization_id UUID        NOT NULL REFERENCES organization ON DELETE CASCADE,
    app_user_id     UUID        NOT NULL REFERENCES app_user ON DELETE CASCADE,
    org_role        TEXT        NOT NULL
                    CONSTRAINT org_membership_role_known CHECK (org_role IN ('owner', 'admin', 'member')),
    created_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT org_membership_pkey PRIMARY KEY (organization_id, app_user_id)
);
CREATE INDEX org_membership_app_user_id_idx ON org_membership (app_user_id);
