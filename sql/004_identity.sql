-- 004_identity.sql: users, the tenants they belong to, and their API tokens.
--
-- The scheduler is the only writer of these tables and keeps a copy in memory
-- (scheduler/net/auth.c), so a client request is authenticated without a query.
-- A token is stored only as the SHA-256 of its text: tokens are 256 random bits,
-- so no salt or slow hash is needed (nobody can guess one to test against the
-- hash). Nothing is ever deleted: removing a user marks it removed and revokes
-- its tokens, and the rows stay for audit. A removed user's name may be taken
-- again by a new user (a new id).

CREATE TABLE users (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9._-]{1,64}$'),
    role        text NOT NULL CHECK (role IN ('viewer', 'submitter', 'operator', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_at  timestamptz           -- NULL: the user exists
);
CREATE UNIQUE INDEX users_live_name ON users (name) WHERE removed_at IS NULL;

-- The tenants a user belongs to, in order: position 0 is the default tenant of
-- the user's submissions.
CREATE TABLE user_tenants (
    user_id     bigint NOT NULL REFERENCES users (id),
    tenant      text NOT NULL REFERENCES tenants (name),
    position    integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (user_id, position),
    UNIQUE (user_id, tenant)
);

CREATE TABLE api_tokens (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    hash        bytea NOT NULL UNIQUE CHECK (length (hash) = 32),  -- SHA-256 of the token; never the token
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,          -- NULL: never
    revoked_at  timestamptz           -- NULL: not revoked
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
