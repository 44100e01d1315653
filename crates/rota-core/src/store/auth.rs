//! API clients and their access tokens.

use std::future::Future;

use super::StoreResult;

/// API clients and their access tokens (both stored as hashes only).
pub trait AuthStore: Send + Sync {
    fn create_client(
        &self,
        client: &crate::auth::ApiClient,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::ApiClient>>> + Send;
    /// Every client, by id.
    fn clients(&self) -> impl Future<Output = StoreResult<Vec<crate::auth::ApiClient>>> + Send;
    /// Deletes a client and its tokens; whether it existed.
    fn revoke_client(&self, client_id: &str) -> impl Future<Output = StoreResult<bool>> + Send;
    fn store_token(
        &self,
        token_hash: &str,
        client_id: &str,
        expires_at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes tokens expired at `now`; returns how many.
    fn purge_tokens(&self, now: jiff::Timestamp) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The tokens of `client_id` alive at `now`.
    fn live_tokens(
        &self,
        client_id: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The principal a token stands for and when the token expires, if it exists and has not
    /// expired at `now`.
    fn principal(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Option<(crate::auth::Principal, jiff::Timestamp)>>> + Send;
}
