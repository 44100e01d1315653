//! Portal users through the API: creating one, and issuing a one-time sign-in link.

use rota_api::users::{NewUserBody, NewUserResponse, SignInLinkBody};
use rota_core::ids::UserId;

use crate::ops;
use crate::{CallOptions, Client, ClientError, Reply};

impl Client {
    /// Creates a portal user (admins) with their first sign-in link.
    pub async fn create_user(
        &self,
        body: &NewUserBody,
    ) -> Result<Reply<NewUserResponse>, ClientError> {
        self.send_op(
            &ops::CREATE_USER,
            &[],
            None::<&()>,
            Some(body),
            &CallOptions::default(),
        )
        .await
    }

    /// A new one-time sign-in link for `user` (admins; supervisors for their unit's agents).
    pub async fn sign_in_link(&self, user: UserId) -> Result<Reply<SignInLinkBody>, ClientError> {
        self.send_op(
            &ops::SIGN_IN_LINK,
            &[&user],
            None::<&()>,
            None::<&()>,
            &CallOptions::default(),
        )
        .await
    }
}
