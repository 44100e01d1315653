//! Liveness and readiness answers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The backend that answered (`sqlite` or `postgres`); readiness only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The PostgreSQL host (`host:port`) this node writes to: with several hosts in the
    /// database URL, the one found taking writes (it changes after a failover); readiness on
    /// PostgreSQL only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}
