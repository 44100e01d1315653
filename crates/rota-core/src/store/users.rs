//! Portal users, sign-in links, sessions, and what each user last saw.

use std::future::Future;

use super::StoreResult;
use crate::ids::ScheduleId;
use crate::version::ScheduleVersion;

/// A user's password failures in a row and until when their password is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SignInFailures {
    pub failures: u32,
    pub locked_until: Option<jiff::Timestamp>,
}

/// Portal users, their one-time sign-in links, their sessions, and what each last saw.
pub trait UserStore: Send + Sync {
    /// `AlreadyExists` when the username is taken.
    fn create_user(&self, user: &crate::auth::User)
    -> impl Future<Output = StoreResult<()>> + Send;
    fn user(
        &self,
        id: crate::ids::UserId,
    ) -> impl Future<Output = StoreResult<crate::auth::User>> + Send;
    fn user_by_name(
        &self,
        username: &str,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::User>>> + Send;
    /// Sets the password hash and ends every session of the user.
    fn set_password(
        &self,
        id: crate::ids::UserId,
        password_hash: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn sign_in_failures(
        &self,
        id: crate::ids::UserId,
    ) -> impl Future<Output = StoreResult<SignInFailures>> + Send;
    /// Counts one more failure (in the same statement, so concurrent failures all count) and
    /// locks the password as [`crate::auth::Lockout`] says.
    fn record_sign_in_failure(
        &self,
        id: crate::ids::UserId,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<SignInFailures>> + Send;
    fn clear_sign_in_failures(
        &self,
        id: crate::ids::UserId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn create_sign_in_link(
        &self,
        token_hash: &str,
        user: crate::ids::UserId,
        expires_at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The link's user, if the link exists and has not expired; the link is gone after (one
    /// use, even when two browsers present it at once).
    fn redeem_sign_in_link(
        &self,
        token_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::User>>> + Send;
    fn create_session(
        &self,
        session_hash: &str,
        user: crate::ids::UserId,
        csrf_token: &str,
        expires_at: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The session with its user, if it exists and has not expired at `now`.
    fn session(
        &self,
        session_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<Option<crate::auth::Session>>> + Send;
    fn end_session(&self, session_hash: &str) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes sessions and links expired at `now`; returns how many.
    fn purge_sessions(&self, now: jiff::Timestamp)
    -> impl Future<Output = StoreResult<u64>> + Send;
    /// The version of `schedule` the user last marked as seen.
    fn seen_version(
        &self,
        user: crate::ids::UserId,
        schedule: ScheduleId,
    ) -> impl Future<Output = StoreResult<Option<ScheduleVersion>>> + Send;
    /// Never moves backwards: a stale page marking an older version changes nothing.
    fn mark_seen(
        &self,
        user: crate::ids::UserId,
        schedule: ScheduleId,
        version: ScheduleVersion,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}
