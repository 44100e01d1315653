//! `POST /oauth/token` (RFC 6749 §4.4 client credentials).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// The token request's form (`application/x-www-form-urlencoded`); every field optional so
/// that a missing one answers RFC 6749's `invalid_request`, not a generic 400.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`, the one grant rota issues.
    #[schema(value_type = String, required = true, pattern = "^client_credentials$")]
    pub grant_type: Option<String>,
    /// With `client_secret`, unless the client authenticates with HTTP Basic.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// Accepted and ignored: a client's scope is fixed when it is created.
    pub scope: Option<String>,
}

/// RFC 6749 §5.2: the token endpoint's errors have their own JSON shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OAuthError {
    pub error: String,
    pub error_description: String,
}
