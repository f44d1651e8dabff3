//! Client registration (RFC 7591) and client authentication at the token, revocation and
//! introspection endpoints.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use time::{Duration, OffsetDateTime};

use super::oauth_error::{OAuthError, OAuthErrorCode};
use crate::clock::Clock;
use crate::domain::{
    AuthMethod, Client, ClientId, DEFAULT_CLIENT_SCOPE, GrantType, OpaqueToken, Scope, TokenHash,
    validate_redirect_uri,
};
use crate::repos::ClientRepo;

/// The dev seed client.
pub const DEV_CLIENT_ID: &str = "dev-client";
/// Its redirect URI.
pub const DEV_CLIENT_REDIRECT_URI: &str = "http://localhost:5173/callback";

/// An RFC 7591 registration request. Unknown metadata is ignored (RFC 7591 §2).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ClientRegistration {
    /// Required for the authorization-code grant.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Display name.
    pub client_name: Option<String>,
    /// Default `client_secret_basic` (RFC 7591 §2).
    pub token_endpoint_auth_method: Option<String>,
    /// Default `["authorization_code", "refresh_token"]`.
    pub grant_types: Option<Vec<String>>,
    /// Must be `["code"]` when given.
    pub response_types: Option<Vec<String>>,
    /// Default `openid profile email`.
    pub scope: Option<String>,
}

/// How the client presented its credentials at a token-type endpoint.
#[derive(Debug)]
pub enum PresentedCredentials {
    /// `Authorization: Basic`.
    Basic {
        /// Decoded client id.
        id: String,
        /// Decoded secret.
        secret: SecretString,
    },
    /// `client_id` and `client_secret` in the body.
    Post {
        /// The `client_id` field.
        id: String,
        /// The `client_secret` field.
        secret: SecretString,
    },
    /// `client_id` alone (public clients).
    IdOnly(String),
    /// Nothing at all.
    Missing,
}

impl PresentedCredentials {
    /// The client id presented, if any.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Basic { id, .. } | Self::Post { id, .. } | Self::IdOnly(id) => Some(id),
            Self::Missing => None,
        }
    }
}

/// Registers and authenticates clients.
pub struct ClientService {
    clients: Arc<dyn ClientRepo>,
    clock: Arc<dyn Clock>,
    /// No API changes or deletes a client, so one found is kept for [`CLIENT_CACHE_TTL`]
    /// with the instant it was read: otherwise every authorize and token request pays a
    /// database round trip for it. An operator's change in the database takes effect within
    /// that time. Only clients that exist are kept, and at most [`MAX_CACHED_CLIENTS`].
    known: RwLock<HashMap<ClientId, (Client, OffsetDateTime)>>,
}

/// Beyond this many, further clients are looked up on every request.
const MAX_CACHED_CLIENTS: usize = 10_000;

/// How long a client read from the store is used without reading it again.
const CLIENT_CACHE_TTL: Duration = Duration::minutes(1);

const MAX_NAME_CHARS: usize = 200;
const MAX_REDIRECT_URIS: usize = 20;

impl ClientService {
    /// A service over the client repository.
    #[must_use]
    pub fn new(clients: Arc<dyn ClientRepo>, clock: Arc<dyn Clock>) -> Self {
        Self {
            clients,
            clock,
            known: RwLock::default(),
        }
    }

    /// Registers a client; returns it and, for a confidential client, its secret (shown
    /// once, stored only as SHA-256).
    ///
    /// # Errors
    /// `invalid_redirect_uri`, `invalid_client_metadata`, or a store failure.
    pub async fn register(
        &self,
        request: ClientRegistration,
    ) -> Result<(Client, Option<OpaqueToken>), OAuthError> {
        let client = self.validate(
            request,
            ClientId::new(uuid::Uuid::new_v4().simple().to_string()),
        )?;
        let secret = if client.auth_method.is_confidential() {
            Some(OpaqueToken::generate().map_err(super::Error::from)?)
        } else {
            None
        };
        let client = Client {
            secret_hash: secret.as_ref().map(OpaqueToken::hash),
            ..client
        };
        self.clients.insert(&client).await?;
        Ok((client, secret))
    }

    /// Creates the dev seed client `dev-client` (public) unless it exists.
    ///
    /// # Errors
    /// A store failure.
    pub async fn seed_dev_client(&self) -> Result<(), OAuthError> {
        let id = ClientId::new(DEV_CLIENT_ID);
        if self.clients.find(&id).await?.is_some() {
            return Ok(());
        }
        let request = ClientRegistration {
            redirect_uris: vec![DEV_CLIENT_REDIRECT_URI.to_owned()],
            client_name: Some("Development client".to_owned()),
            token_endpoint_auth_method: Some("none".to_owned()),
            ..ClientRegistration::default()
        };
        let client = self.validate(request, id)?;
        self.clients.insert(&client).await?;
        tracing::info!(client_id = DEV_CLIENT_ID, "dev seed client created");
        Ok(())
    }

    fn validate(&self, request: ClientRegistration, id: ClientId) -> Result<Client, OAuthError> {
        let metadata = |description: &'static str| {
            OAuthError::new(OAuthErrorCode::InvalidClientMetadata, description)
        };
        let auth_method = match request.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic,
            Some(raw) => AuthMethod::parse(raw).ok_or_else(|| {
                metadata("token_endpoint_auth_method must be none, client_secret_basic or client_secret_post")
            })?,
        };
        let grant_types = match request.grant_types {
            None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            Some(raw) if raw.is_empty() => return Err(metadata("grant_types must not be empty")),
            Some(raw) => {
                let mut grants = Vec::new();
                for name in &raw {
                    let grant = GrantType::parse(name).ok_or_else(|| {
                        metadata("grant_types may hold authorization_code, refresh_token and client_credentials")
                    })?;
                    if !grants.contains(&grant) {
                        grants.push(grant);
                    }
                }
                grants
            }
        };
        if grant_types.contains(&GrantType::ClientCredentials) && !auth_method.is_confidential() {
            return Err(metadata("client_credentials needs a confidential client"));
        }
        let uses_code = grant_types.contains(&GrantType::AuthorizationCode);
        if let Some(types) = &request.response_types
            && !(types.is_empty() || (uses_code && types.iter().all(|t| t == "code")))
        {
            return Err(metadata(
                "response_types may only be [\"code\"], with the authorization_code grant",
            ));
        }
        if uses_code && request.redirect_uris.is_empty() {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidRedirectUri,
                "redirect_uris is required for the authorization_code grant",
            ));
        }
        if request.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidRedirectUri,
                "at most 20 redirect_uris",
            ));
        }
        for uri in &request.redirect_uris {
            validate_redirect_uri(uri)
                .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidRedirectUri, e.to_string()))?;
        }
        let scope = Scope::parse(request.scope.as_deref().unwrap_or(DEFAULT_CLIENT_SCOPE))
            .map_err(|_| metadata("scope may hold openid, profile, email and offline_access"))?;
        let name = request.client_name.map(|n| n.trim().to_owned());
        if name
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS || n.chars().any(char::is_control))
        {
            return Err(metadata(
                "client_name must be at most 200 characters without control characters",
            ));
        }
        Ok(Client {
            id,
            secret_hash: None,
            auth_method,
            redirect_uris: request.redirect_uris,
            grant_types,
            scope,
            name,
            created_at: self.clock.now(),
        })
    }

    /// The client with this id.
    ///
    /// # Errors
    /// A store failure.
    pub async fn find(&self, id: &str) -> Result<Option<Client>, OAuthError> {
        // Ids are ours (UUID hex or seeded names): anything else cannot exist, and some of it
        // (a NUL byte) would make the database refuse the query.
        let plausible = (1..=128).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if !plausible {
            return Ok(None);
        }
        let id = ClientId::new(id);
        let now = self.clock.now();
        let cached = self
            .known
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned();
        let stale = match cached {
            Some((client, read_at)) if now < read_at + CLIENT_CACHE_TTL => {
                return Ok(Some(client));
            }
            Some(_) => true,
            None => false,
        };
        let found = self.clients.find(&id).await?;
        match &found {
            Some(client) => {
                let mut known = self.known.write().unwrap_or_else(PoisonError::into_inner);
                if known.len() >= MAX_CACHED_CLIENTS && !known.contains_key(&id) {
                    known.retain(|_, (_, read_at)| now < *read_at + CLIENT_CACHE_TTL);
                }
                if known.len() < MAX_CACHED_CLIENTS || known.contains_key(&id) {
                    known.insert(id, (client.clone(), now));
                }
            }
            None if stale => {
                self.known
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            }
            None => {}
        }
        Ok(found)
    }

    /// Authenticates a client: a confidential client must use the method it registered and
    /// its secret (compared as digests in constant time); a public client sends its id only.
    ///
    /// # Errors
    /// `invalid_client` (401) for anything else, or a store failure.
    pub async fn authenticate(
        &self,
        presented: PresentedCredentials,
    ) -> Result<Client, OAuthError> {
        let basic = matches!(presented, PresentedCredentials::Basic { .. });
        let fail = || OAuthError {
            basic_auth_attempted: basic,
            ..OAuthError::invalid_client()
        };
        let (id, secret, method) = match presented {
            PresentedCredentials::Basic { id, secret } => {
                (id, Some(secret), AuthMethod::ClientSecretBasic)
            }
            PresentedCredentials::Post { id, secret } => {
                (id, Some(secret), AuthMethod::ClientSecretPost)
            }
            PresentedCredentials::IdOnly(id) => (id, None, AuthMethod::None),
            PresentedCredentials::Missing => return Err(fail()),
        };
        let client = self.find(&id).await?.ok_or_else(fail)?;
        if client.auth_method != method {
            return Err(fail());
        }
        match (&client.secret_hash, secret) {
            (None, None) => Ok(client),
            (Some(stored), Some(secret))
                if stored.ct_eq(&TokenHash::of(secret.expose_secret())) =>
            {
                Ok(client)
            }
            _ => Err(fail()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;
    use crate::repos::{Result as RepoResult, memory};

    /// Counts the lookups that reach the store.
    struct CountingRepo {
        inner: Arc<dyn ClientRepo>,
        finds: AtomicUsize,
        deleted: AtomicBool,
    }

    #[async_trait::async_trait]
    impl ClientRepo for CountingRepo {
        async fn insert(&self, client: &Client) -> RepoResult<()> {
            self.inner.insert(client).await
        }

        async fn find(&self, id: &ClientId) -> RepoResult<Option<Client>> {
            self.finds.fetch_add(1, Ordering::Relaxed);
            if self.deleted.load(Ordering::Relaxed) {
                return Ok(None);
            }
            self.inner.find(id).await
        }
    }

    /// A service on a counting in-memory store, with a clock the test moves.
    fn counted() -> (Arc<CountingRepo>, ManualClock, ClientService) {
        let repo = Arc::new(CountingRepo {
            inner: memory::repos().clients,
            finds: AtomicUsize::new(0),
            deleted: AtomicBool::new(false),
        });
        let clock = ManualClock::starting_now();
        let service = ClientService::new(repo.clone(), Arc::new(clock.clone()));
        (repo, clock, service)
    }

    #[tokio::test]
    async fn a_known_client_is_read_from_the_store_once_a_minute_an_unknown_one_every_time() {
        let (repo, clock, service) = counted();
        let (client, _) = service
            .register(ClientRegistration {
                redirect_uris: vec!["https://app.example/cb".into()],
                ..ClientRegistration::default()
            })
            .await
            .unwrap();
        for _ in 0..3 {
            let found = service.find(client.id.as_str()).await.unwrap().unwrap();
            assert_eq!(found, client);
        }
        assert_eq!(repo.finds.load(Ordering::Relaxed), 1);
        for _ in 0..3 {
            assert!(service.find("no-such-client").await.unwrap().is_none());
        }
        assert_eq!(repo.finds.load(Ordering::Relaxed), 4);

        clock.advance(CLIENT_CACHE_TTL - Duration::SECOND);
        assert!(service.find(client.id.as_str()).await.unwrap().is_some());
        assert_eq!(repo.finds.load(Ordering::Relaxed), 4);
        clock.advance(Duration::SECOND);
        assert!(service.find(client.id.as_str()).await.unwrap().is_some());
        assert_eq!(
            repo.finds.load(Ordering::Relaxed),
            5,
            "read again after the TTL"
        );

        // An operator deletes it in the database: gone from the next read on.
        repo.deleted.store(true, Ordering::Relaxed);
        clock.advance(CLIENT_CACHE_TTL);
        assert!(service.find(client.id.as_str()).await.unwrap().is_none());
        assert!(service.find(client.id.as_str()).await.unwrap().is_none());
        assert_eq!(repo.finds.load(Ordering::Relaxed), 7);
    }

    #[tokio::test]
    async fn a_full_cache_makes_room_by_dropping_expired_clients() {
        let (repo, clock, service) = counted();
        let register = async || {
            service
                .register(ClientRegistration {
                    redirect_uris: vec!["https://app.example/cb".into()],
                    ..ClientRegistration::default()
                })
                .await
                .unwrap()
                .0
        };
        for _ in 0..MAX_CACHED_CLIENTS {
            let client = register().await;
            service.find(client.id.as_str()).await.unwrap().unwrap();
        }
        let latecomer = register().await;
        let reads = async |n| {
            for _ in 0..n {
                service.find(latecomer.id.as_str()).await.unwrap().unwrap();
            }
        };
        let before = repo.finds.load(Ordering::Relaxed);
        reads(2).await;
        assert_eq!(
            repo.finds.load(Ordering::Relaxed),
            before + 2,
            "full of live clients: not cached"
        );

        clock.advance(CLIENT_CACHE_TTL);
        reads(2).await;
        assert_eq!(
            repo.finds.load(Ordering::Relaxed),
            before + 3,
            "the expired ones made room"
        );
    }
}
