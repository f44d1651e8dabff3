//! Postgres OAuth repositories. Single use of codes and refresh tokens rests on conditional
//! `UPDATE … WHERE consumed_at IS NULL` / `used_at IS NULL` statements: Postgres row locks
//! make exactly one of any number of concurrent statements (from any instance) match.

use async_trait::async_trait;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::stored_roles;
use super::{delete_batch, map_err};
use crate::domain::{
    AuthMethod, AuthorizationCode, Client, ClientId, CodeChallenge, CodeIssue, GrantType,
    IssuedAccess, RefreshToken, Scope, TokenHash, UserId,
};
use crate::repos::{
    AuthCodeRepo, ClientRepo, CodeConsumption, DenylistRepo, Exchange, RefreshTokenRepo, RepoError,
    Result, Rotation, RotationOutcome, UserStanding,
};

fn digest(bytes: Vec<u8>, column: &str) -> Result<TokenHash> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| RepoError::Unexpected(format!("{column} is not 32 bytes")))?;
    Ok(TokenHash::from_bytes(bytes))
}

fn scope(stored: &str) -> Result<Scope> {
    Scope::parse(stored)
        .map_err(|_| RepoError::Unexpected(format!("unknown stored scope {stored:?}")))
}

/// Clients in `oauth_client`.
#[derive(Debug, Clone)]
pub struct PgClientRepo {
    pool: PgPool,
}

impl PgClientRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    oauth_client_id: String,
    secret_hash: Option<Vec<u8>>,
    auth_method: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scope: String,
    client_name: Option<String>,
    created_at: OffsetDateTime,
}

impl TryFrom<ClientRow> for Client {
    type Error = RepoError;

    fn try_from(row: ClientRow) -> Result<Self> {
        let unexpected = |what: &str| RepoError::Unexpected(format!("oauth_client: bad {what}"));
        Ok(Self {
            id: ClientId::new(row.oauth_client_id),
            secret_hash: row
                .secret_hash
                .map(|h| digest(h, "oauth_client.secret_hash"))
                .transpose()?,
            auth_method: AuthMethod::parse(&row.auth_method)
                .ok_or_else(|| unexpected("auth_method"))?,
            redirect_uris: row.redirect_uris,
            grant_types: row
                .grant_types
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(|| unexpected("grant_types")))
                .collect::<Result<_>>()?,
            scope: scope(&row.scope)?,
            name: row.client_name,
            created_at: row.created_at,
        })
    }
}

#[async_trait]
impl ClientRepo for PgClientRepo {
    async fn insert(&self, client: &Client) -> Result<()> {
        sqlx::query(
            "INSERT INTO oauth_client (oauth_client_id, secret_hash, auth_method, redirect_uris, \
             grant_types, scope, client_name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(client.id.as_str())
        .bind(client.secret_hash.map(|h| h.as_bytes().to_vec()))
        .bind(client.auth_method.as_str())
        .bind(&client.redirect_uris)
        .bind(
            client
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(client.scope.to_string())
        .bind(client.name.as_deref())
        .bind(client.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find(&self, id: &ClientId) -> Result<Option<Client>> {
        let row: Option<ClientRow> = sqlx::query_as(
            "SELECT oauth_client_id, secret_hash, auth_method, redirect_uris, grant_types, scope, \
             client_name, created_at FROM oauth_client WHERE oauth_client_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(Client::try_from).transpose()
    }
}

/// Codes in `authorization_code`.
#[derive(Debug, Clone)]
pub struct PgAuthCodeRepo {
    pool: PgPool,
}

impl PgAuthCodeRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct CodeRow {
    code_hash: Vec<u8>,
    oauth_client_id: String,
    app_user_id: Uuid,
    redirect_uri: String,
    scope: String,
    code_challenge: String,
    created_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    consumed_at: Option<OffsetDateTime>,
    issued_access_jti: Option<Uuid>,
    issued_access_expires_at: Option<OffsetDateTime>,
    issued_family_id: Option<Uuid>,
}

/// A code this call consumed, and its user.
#[derive(sqlx::FromRow)]
struct ConsumedRow {
    #[sqlx(flatten)]
    code: CodeRow,
    is_active: bool,
    roles: Vec<String>,
}

impl TryFrom<CodeRow> for AuthorizationCode {
    type Error = RepoError;

    fn try_from(row: CodeRow) -> Result<Self> {
        let issued = match (row.issued_access_jti, row.issued_access_expires_at) {
            (Some(jti), Some(expires_at)) => Some(CodeIssue {
                access: IssuedAccess { jti, expires_at },
                family_id: row.issued_family_id,
            }),
            _ => None,
        };
        Ok(Self {
            hash: digest(row.code_hash, "authorization_code.code_hash")?,
            client_id: ClientId::new(row.oauth_client_id),
            user_id: UserId::from_uuid(row.app_user_id),
            redirect_uri: row.redirect_uri,
            scope: scope(&row.scope)?,
            challenge: CodeChallenge::from_stored(row.code_challenge),
            created_at: row.created_at,
            expires_at: row.expires_at,
            consumed_at: row.consumed_at,
            issued,
        })
    }
}

const CODE_COLUMNS: &str = "code_hash, oauth_client_id, app_user_id, redirect_uri, scope, \
     code_challenge, created_at, expires_at, consumed_at, issued_access_jti, \
     issued_access_expires_at, issued_family_id";

#[async_trait]
impl AuthCodeRepo for PgAuthCodeRepo {
    async fn insert(&self, code: &AuthorizationCode) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_code (code_hash, oauth_client_id, app_user_id, \
             redirect_uri, scope, code_challenge, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(code.hash.as_bytes().as_slice())
        .bind(code.client_id.as_str())
        .bind(code.user_id.as_uuid())
        .bind(&code.redirect_uri)
        .bind(code.scope.to_string())
        .bind(code.challenge.as_str())
        .bind(code.created_at)
        .bind(code.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn issued_to_user(&self, user_id: UserId) -> Result<Vec<IssuedAccess>> {
        let rows: Vec<(Uuid, OffsetDateTime)> = sqlx::query_as(
            "SELECT issued_access_jti, issued_access_expires_at FROM authorization_code \
             WHERE app_user_id = $1 AND issued_access_jti IS NOT NULL \
             AND issued_access_expires_at IS NOT NULL",
        )
        .bind(user_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(rows
            .into_iter()
            .map(|(jti, expires_at)| IssuedAccess { jti, expires_at })
            .collect())
    }

    async fn consume(&self, hash: &TokenHash, exchange: &Exchange) -> Result<CodeConsumption> {
        // One statement: consume, read the user, and store the first refresh token only under
        // the conditions of `Exchange::permits`. A replay's `UPDATE` waits for this
        // statement's row lock, so it sees the code consumed only once the token is stored.
        // The user is read `FOR SHARE`, which returns the newest committed version and holds
        // off a concurrent deactivation until this commits: a disable then finds this code's
        // access token and refresh token to revoke, or this finds the user inactive.
        let first = exchange.refresh_token.zip(exchange.issue.family_id);
        let consumed: Option<ConsumedRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH consumed AS (UPDATE authorization_code SET consumed_at = $2, \
               issued_access_jti = $3, issued_access_expires_at = $4, issued_family_id = $5 \
               WHERE code_hash = $1 AND consumed_at IS NULL RETURNING {CODE_COLUMNS}), \
             owner AS (SELECT app_user_id, is_active, roles FROM app_user \
               WHERE app_user_id IN (SELECT app_user_id FROM consumed) FOR SHARE), \
             holder AS (SELECT consumed.*, coalesce(owner.is_active, false) AS is_active, \
               coalesce(owner.roles, '{{}}') AS roles \
               FROM consumed LEFT JOIN owner ON owner.app_user_id = consumed.app_user_id), \
             first_refresh AS (INSERT INTO refresh_token (token_hash, family_id, \
               oauth_client_id, app_user_id, scope, created_at, family_expires_at, access_jti, \
               access_expires_at) \
               SELECT $6, $7, oauth_client_id, app_user_id, scope, $2, $8, $3, $4 FROM holder \
               WHERE $6::bytea IS NOT NULL AND is_active AND oauth_client_id = $9 \
                 AND redirect_uri = $10 AND $2 < expires_at \
                 AND code_challenge = $11) \
             SELECT * FROM holder"
        )))
        .bind(hash.as_bytes().as_slice())
        .bind(exchange.now)
        .bind(exchange.issue.access.jti)
        .bind(exchange.issue.access.expires_at)
        .bind(exchange.issue.family_id)
        .bind(first.map(|(token, _)| token.as_bytes().to_vec()))
        .bind(first.map(|(_, family_id)| family_id))
        .bind(exchange.family_expires_at)
        .bind(exchange.client_id.as_str())
        .bind(exchange.redirect_uri.as_deref())
        .bind(exchange.challenge.as_ref().map(CodeChallenge::as_str))
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        if let Some(row) = consumed {
            let user = UserStanding {
                is_active: row.is_active,
                roles: stored_roles(&row.roles),
            };
            return Ok(CodeConsumption::Consumed(row.code.try_into()?, user));
        }
        let earlier: Option<CodeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {CODE_COLUMNS} FROM authorization_code WHERE code_hash = $1"
        )))
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(match earlier {
            Some(row) => CodeConsumption::Replayed(row.try_into()?),
            None => CodeConsumption::Unknown,
        })
    }

    async fn delete_expired(
        &self,
        now: OffsetDateTime,
        redeemed_before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64> {
        // The condition is repeated outside the subquery: a code redeemed while this waits
        // for its row lock is re-checked as it is now (READ COMMITTED re-evaluates only the
        // outer condition), so it stays for replay detection.
        let deleted = sqlx::query(
            "DELETE FROM authorization_code WHERE code_hash IN \
             (SELECT code_hash FROM authorization_code \
              WHERE expires_at <= $1 AND (consumed_at IS NULL OR expires_at <= $2) \
              LIMIT $3) \
             AND expires_at <= $1 AND (consumed_at IS NULL OR expires_at <= $2)",
        )
        .bind(now)
        .bind(redeemed_before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(deleted.rows_affected())
    }
}

/// Tokens in `refresh_token`.
#[derive(Debug, Clone)]
pub struct PgRefreshTokenRepo {
    pool: PgPool,
}

impl PgRefreshTokenRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    token_hash: Vec<u8>,
    family_id: Uuid,
    oauth_client_id: String,
    app_user_id: Uuid,
    scope: String,
    created_at: OffsetDateTime,
    family_expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    access_jti: Uuid,
    access_expires_at: OffsetDateTime,
}

/// A presented refresh token, its user, and whether the statement rotated it.
#[derive(sqlx::FromRow)]
struct PresentedRow {
    #[sqlx(flatten)]
    token: RefreshRow,
    is_active: bool,
    roles: Vec<String>,
    rotated: bool,
}

impl TryFrom<RefreshRow> for RefreshToken {
    type Error = RepoError;

    fn try_from(row: RefreshRow) -> Result<Self> {
        Ok(Self {
            hash: digest(row.token_hash, "refresh_token.token_hash")?,
            family_id: row.family_id,
            client_id: ClientId::new(row.oauth_client_id),
            user_id: UserId::from_uuid(row.app_user_id),
            scope: scope(&row.scope)?,
            created_at: row.created_at,
            family_expires_at: row.family_expires_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
            access: IssuedAccess {
                jti: row.access_jti,
                expires_at: row.access_expires_at,
            },
        })
    }
}

impl PgRefreshTokenRepo {
    /// Runs a revoking `UPDATE` until it finds nothing left to revoke. One statement is not
    /// enough under READ COMMITTED: a rotation that held a row lock when the statement started
    /// commits a successor the statement cannot see. The next statement sees and revokes it,
    /// and no rotation can start from a revoked row, so the loop ends.
    async fn revoke_until_none_live(
        &self,
        statement: &'static str,
        key: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>> {
        let mut revoked = Vec::new();
        loop {
            let rows: Vec<(Uuid, OffsetDateTime)> = sqlx::query_as(statement)
                .bind(key)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            if rows.is_empty() {
                return Ok(revoked);
            }
            revoked.extend(
                rows.into_iter()
                    .map(|(jti, expires_at)| IssuedAccess { jti, expires_at }),
            );
        }
    }
}

#[async_trait]
impl RefreshTokenRepo for PgRefreshTokenRepo {
    async fn insert(&self, token: &RefreshToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO refresh_token (token_hash, family_id, oauth_client_id, app_user_id, \
             scope, created_at, family_expires_at, used_at, revoked_at, access_jti, \
             access_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(token.hash.as_bytes().as_slice())
        .bind(token.family_id)
        .bind(token.client_id.as_str())
        .bind(token.user_id.as_uuid())
        .bind(token.scope.to_string())
        .bind(token.created_at)
        .bind(token.family_expires_at)
        .bind(token.used_at)
        .bind(token.revoked_at)
        .bind(token.access.jti)
        .bind(token.access.expires_at)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshToken>> {
        let row: Option<RefreshRow> = sqlx::query_as(
            "SELECT token_hash, family_id, oauth_client_id, app_user_id, scope, created_at, \
             family_expires_at, used_at, revoked_at, access_jti, access_expires_at \
             FROM refresh_token WHERE token_hash = $1",
        )
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        row.map(RefreshToken::try_from).transpose()
    }

    async fn rotate(&self, presented: &TokenHash, rotation: &Rotation) -> Result<RotationOutcome> {
        // One round trip. `presented` reads the token and its user as they were when the
        // statement started; `used` marks the token used only under the same conditions as
        // `Rotation::permits` (re-checked on the newest row version if a concurrent rotation
        // held it), and the successor is inserted only from a row `used` returned.
        let row: Option<PresentedRow> = sqlx::query_as(
            "WITH presented AS ( \
               SELECT t.token_hash, t.family_id, t.oauth_client_id, t.app_user_id, t.scope, \
                 t.created_at, t.family_expires_at, t.used_at, t.revoked_at, t.access_jti, \
                 t.access_expires_at, coalesce(u.is_active, false) AS is_active, \
                 coalesce(u.roles, '{}') AS roles \
               FROM refresh_token t LEFT JOIN app_user u ON u.app_user_id = t.app_user_id \
               WHERE t.token_hash = $1), \
             used AS ( \
               UPDATE refresh_token t SET used_at = $2 FROM app_user u \
               WHERE t.token_hash = $1 AND u.app_user_id = t.app_user_id AND u.is_active \
                 AND t.oauth_client_id = $3 AND t.used_at IS NULL AND t.revoked_at IS NULL \
                 AND $2 < t.family_expires_at AND $4 < t.created_at \
                 AND string_to_array($5, ' ') <@ string_to_array(t.scope, ' ') \
               RETURNING t.family_id, t.oauth_client_id, t.app_user_id, t.scope, \
                 t.family_expires_at), \
             successor AS ( \
               INSERT INTO refresh_token (token_hash, family_id, oauth_client_id, app_user_id, \
                 scope, created_at, family_expires_at, access_jti, access_expires_at) \
               SELECT $6, family_id, oauth_client_id, app_user_id, scope, $2, \
                 family_expires_at, $7, $8 FROM used \
               RETURNING 1) \
             SELECT presented.*, EXISTS (SELECT 1 FROM successor) AS rotated FROM presented",
        )
        .bind(presented.as_bytes().as_slice())
        .bind(rotation.now)
        .bind(rotation.client_id.as_str())
        .bind(rotation.now - rotation.idle)
        .bind(rotation.within.as_ref().map(Scope::to_string))
        .bind(rotation.successor.as_bytes().as_slice())
        .bind(rotation.access.jti)
        .bind(rotation.access.expires_at)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else {
            return Ok(RotationOutcome::Unknown);
        };
        let user = UserStanding {
            is_active: row.is_active,
            roles: stored_roles(&row.roles),
        };
        let token = RefreshToken::try_from(row.token)?;
        Ok(if row.rotated {
            RotationOutcome::Rotated(token, user)
        } else {
            RotationOutcome::Refused(token, user)
        })
    }

    async fn revoke_family(
        &self,
        family_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>> {
        self.revoke_until_none_live(
            "UPDATE refresh_token SET revoked_at = $2 \
             WHERE family_id = $1 AND revoked_at IS NULL RETURNING access_jti, access_expires_at",
            family_id,
            now,
        )
        .await
    }

    async fn revoke_for_user(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>> {
        self.revoke_until_none_live(
            "UPDATE refresh_token SET revoked_at = $2 \
             WHERE app_user_id = $1 AND revoked_at IS NULL \
             RETURNING access_jti, access_expires_at",
            user_id.as_uuid(),
            now,
        )
        .await
    }

    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64> {
        delete_batch(
            &self.pool,
            "DELETE FROM refresh_token WHERE token_hash IN \
             (SELECT token_hash FROM refresh_token WHERE family_expires_at <= $1 LIMIT $2)",
            before,
            limit,
        )
        .await
    }
}

/// Entries in `revoked_access_token`.
#[derive(Debug, Clone)]
pub struct PgDenylistRepo {
    pool: PgPool,
}

impl PgDenylistRepo {
    /// A repository on this pool.
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl DenylistRepo for PgDenylistRepo {
    async fn deny(&self, tokens: &[IssuedAccess]) -> Result<()> {
        if tokens.is_empty() {
            return Ok(());
        }
        let jtis: Vec<Uuid> = tokens.iter().map(|t| t.jti).collect();
        let expiries: Vec<OffsetDateTime> = tokens.iter().map(|t| t.expires_at).collect();
        sqlx::query(
            "INSERT INTO revoked_access_token (jti, expires_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[]) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jtis)
        .bind(expiries)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn is_denied(&self, jti: Uuid) -> Result<bool> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM revoked_access_token WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        Ok(found.is_some())
    }

    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64> {
        delete_batch(
            &self.pool,
            "DELETE FROM revoked_access_token WHERE jti IN \
             (SELECT jti FROM revoked_access_token WHERE expires_at <= $1 LIMIT $2)",
            before,
            limit,
        )
        .await
    }
}
