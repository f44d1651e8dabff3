//! In-memory OAuth repositories: clients, codes, refresh tokens, the deny-list. Each
//! conditional update happens under one lock, which is what makes it atomic here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{InMemoryUserRepo, lock};
use crate::domain::{
    AuthorizationCode, Client, ClientId, IssuedAccess, RefreshToken, TokenHash, UserId,
};
use crate::repos::{
    AuthCodeRepo, CLIENT_ID_UNIQUE, ClientRepo, CodeConsumption, DenylistRepo, Exchange,
    RefreshTokenRepo, RepoError, Result, Rotation, RotationOutcome,
};

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn batch(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

/// Removes at most `limit` entries matching `expired`; returns how many.
fn remove_where<K, V>(map: &mut HashMap<K, V>, limit: u32, expired: impl Fn(&V) -> bool) -> u64
where
    K: Clone + Eq + std::hash::Hash,
{
    let doomed: Vec<K> = map
        .iter()
        .filter(|(_, v)| expired(v))
        .map(|(k, _)| k.clone())
        .take(batch(limit))
        .collect();
    for key in &doomed {
        map.remove(key);
    }
    count(doomed.len())
}

/// Revokes the not yet revoked tokens matching `selected`; returns their access tokens.
fn revoke_where(
    tokens: &mut HashMap<TokenHash, RefreshToken>,
    now: OffsetDateTime,
    selected: impl Fn(&RefreshToken) -> bool,
) -> Vec<IssuedAccess> {
    tokens
        .values_mut()
        .filter(|t| selected(t) && t.revoked_at.is_none())
        .map(|t| {
            t.revoked_at = Some(now);
            t.access
        })
        .collect()
}

/// Clients by id.
#[derive(Debug, Default)]
pub struct InMemoryClientRepo {
    clients: Mutex<HashMap<ClientId, Client>>,
}

#[async_trait]
impl ClientRepo for InMemoryClientRepo {
    async fn insert(&self, client: &Client) -> Result<()> {
        let mut clients = lock(&self.clients);
        if clients.contains_key(&client.id) {
            return Err(RepoError::Conflict {
                constraint: CLIENT_ID_UNIQUE,
            });
        }
        clients.insert(client.id.clone(), client.clone());
        Ok(())
    }

    async fn find(&self, id: &ClientId) -> Result<Option<Client>> {
        Ok(lock(&self.clients).get(id).cloned())
    }
}

/// Authorization codes by digest. A consumption reads the code's user and stores the first
/// refresh token under the codes' lock, as Postgres does in one statement.
#[derive(Debug)]
pub struct InMemoryAuthCodeRepo {
    codes: Mutex<HashMap<TokenHash, AuthorizationCode>>,
    users: Arc<InMemoryUserRepo>,
    refresh_tokens: Arc<InMemoryRefreshTokenRepo>,
}

impl InMemoryAuthCodeRepo {
    /// An empty repository whose codes are approved by the users in `users` and open
    /// families in `refresh_tokens`.
    #[must_use]
    pub fn new(
        users: Arc<InMemoryUserRepo>,
        refresh_tokens: Arc<InMemoryRefreshTokenRepo>,
    ) -> Self {
        Self {
            codes: Mutex::default(),
            users,
            refresh_tokens,
        }
    }
}

#[async_trait]
impl AuthCodeRepo for InMemoryAuthCodeRepo {
    async fn insert(&self, code: &AuthorizationCode) -> Result<()> {
        lock(&self.codes).insert(code.hash, code.clone());
        Ok(())
    }

    async fn issued_to_user(&self, user_id: UserId) -> Result<Vec<IssuedAccess>> {
        Ok(lock(&self.codes)
            .values()
            .filter(|c| c.user_id == user_id)
            .filter_map(|c| c.issued.map(|i| i.access))
            .collect())
    }

    async fn consume(&self, hash: &TokenHash, exchange: &Exchange) -> Result<CodeConsumption> {
        let mut codes = lock(&self.codes);
        let Some(code) = codes.get_mut(hash) else {
            return Ok(CodeConsumption::Unknown);
        };
        if code.consumed_at.is_some() {
            return Ok(CodeConsumption::Replayed(code.clone()));
        }
        code.consumed_at = Some(exchange.now);
        code.issued = Some(exchange.issue);
        let user = self.users.standing(code.user_id);
        if exchange.permits(code, &user)
            && let Some(first) = exchange.first_refresh_token(code)
        {
            lock(&self.refresh_tokens.tokens).insert(first.hash, first);
        }
        Ok(CodeConsumption::Consumed(code.clone(), user))
    }

    async fn delete_expired(
        &self,
        now: OffsetDateTime,
        redeemed_before: OffsetDateTime,
        limit: u32,
    ) -> Result<u64> {
        Ok(remove_where(&mut lock(&self.codes), limit, |c| {
            c.expires_at <= now && (c.consumed_at.is_none() || c.expires_at <= redeemed_before)
        }))
    }
}

/// Refresh tokens by digest. Rotation reads the token's user from `users` under the tokens'
/// lock, as Postgres joins the two tables in one statement.
#[derive(Debug)]
pub struct InMemoryRefreshTokenRepo {
    tokens: Mutex<HashMap<TokenHash, RefreshToken>>,
    users: Arc<InMemoryUserRepo>,
}

impl InMemoryRefreshTokenRepo {
    /// An empty repository whose tokens belong to the users in `users`.
    #[must_use]
    pub fn new(users: Arc<InMemoryUserRepo>) -> Self {
        Self {
            tokens: Mutex::default(),
            users,
        }
    }
}

#[async_trait]
impl RefreshTokenRepo for InMemoryRefreshTokenRepo {
    async fn insert(&self, token: &RefreshToken) -> Result<()> {
        lock(&self.tokens).insert(token.hash, token.clone());
        Ok(())
    }

    async fn find(&self, hash: &TokenHash) -> Result<Option<RefreshToken>> {
        Ok(lock(&self.tokens).get(hash).cloned())
    }

    async fn rotate(&self, presented: &TokenHash, rotation: &Rotation) -> Result<RotationOutcome> {
        let mut tokens = lock(&self.tokens);
        let Some(token) = tokens.get_mut(presented) else {
            return Ok(RotationOutcome::Unknown);
        };
        let user = self.users.standing(token.user_id);
        if !rotation.permits(token, &user) {
            return Ok(RotationOutcome::Refused(token.clone(), user));
        }
        let previous = token.clone();
        token.used_at = Some(rotation.now);
        let successor = rotation.successor_of(&previous);
        tokens.insert(successor.hash, successor);
        Ok(RotationOutcome::Rotated(previous, user))
    }

    async fn revoke_family(
        &self,
        family_id: Uuid,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>> {
        Ok(revoke_where(&mut lock(&self.tokens), now, |t| {
            t.family_id == family_id
        }))
    }

    async fn revoke_for_user(
        &self,
        user_id: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<IssuedAccess>> {
        Ok(revoke_where(&mut lock(&self.tokens), now, |t| {
            t.user_id == user_id
        }))
    }

    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64> {
        Ok(remove_where(&mut lock(&self.tokens), limit, |t| {
            t.family_expires_at <= before
        }))
    }
}

/// Deny-listed access tokens: `jti` → expiry.
#[derive(Debug, Default)]
pub struct InMemoryDenylistRepo {
    denied: Mutex<HashMap<Uuid, OffsetDateTime>>,
}

#[async_trait]
impl DenylistRepo for InMemoryDenylistRepo {
    async fn deny(&self, tokens: &[IssuedAccess]) -> Result<()> {
        let mut denied = lock(&self.denied);
        for token in tokens {
            denied.entry(token.jti).or_insert(token.expires_at);
        }
        Ok(())
    }

    async fn is_denied(&self, jti: Uuid) -> Result<bool> {
        Ok(lock(&self.denied).contains_key(&jti))
    }

    async fn delete_expired(&self, before: OffsetDateTime, limit: u32) -> Result<u64> {
        Ok(remove_where(&mut lock(&self.denied), limit, |exp| {
            *exp <= before
        }))
    }
}
