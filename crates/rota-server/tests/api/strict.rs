//! A server as production limits it: the `World::disjoint(4, 16)` week imported but not
//! published, the default rate limits and small request limits; what the swap, idempotency,
//! access and operations suites share.

use std::sync::Arc;

use reqwest::Method;
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::{CallOptions, Client, ClientError};
use rota_core::auth::Role;
use rota_core::clock::FixedClock;
use rota_core::store::ScheduleStore;
use rota_core::testkit::World;
use rota_core::version::{ScheduleVersion, ScheduleVersionId};
use rota_server::Config;
use rota_store::Store;

pub struct TestApp {
    /// Authenticated as an admin.
    pub client: Client,
    /// Not authenticated.
    pub anonymous: Client,
    pub store: Store,
    pub world: World,
    pub clock: Arc<FixedClock>,
    pub admin_id: String,
    /// The server; stops when dropped.
    pub app: crate::common::TestApp,
}

pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// The `World::disjoint(4, 16)` week, imported but not published, on a server with the
/// default rate limits and small request limits (so the limit errors are cheap to reach).
pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestApp {
    let app = crate::common::spawn_world(World::disjoint(4, 16), false, |config| {
        let defaults = Config::default();
        config.rate_limit_per_minute = defaults.rate_limit_per_minute;
        config.rate_limit_burst = defaults.rate_limit_burst;
        config.max_swap_items = 5;
        config.body_limit_bytes = 16 * 1024;
        tune(config);
    })
    .await;
    TestApp {
        client: app.admin.clone(),
        anonymous: app.anonymous.clone(),
        store: app.store.clone(),
        world: app.world.clone(),
        clock: Arc::clone(&app.clock),
        admin_id: app.admin_id.clone(),
        app,
    }
}

impl TestApp {
    /// A client of `role`, scoped as given, with a fresh token.
    pub async fn as_client(
        &self,
        role: Role,
        bu: Option<rota_core::ids::BusinessUnitId>,
        agent: Option<usize>,
    ) -> Client {
        self.app.client_in(role, bu, agent).await
    }
}

impl TestApp {
    pub fn version_id(&self, v: u64) -> String {
        ScheduleVersionId::new(self.world.schedule.id, ScheduleVersion::new(v).unwrap()).to_string()
    }

    /// A swap body: (agent, original shift, new shift) by index into the world.
    pub fn body(&self, base: u64, items: &[(usize, usize, usize)]) -> SwapRequestBody {
        SwapRequestBody {
            schedule_version_id: self.version_id(base),
            shift_swaps: items
                .iter()
                .map(|&(a, o, n)| SwapItemBody {
                    agent_id: self.world.agents[a].id.to_string(),
                    original_shift_id: self.world.schedule.shifts[o].id.to_string(),
                    new_shift_id: self.world.schedule.shifts[n].id.to_string(),
                    reason_code: "personal".into(),
                    counterpart_agent_id: None,
                })
                .collect(),
            effective_date: None,
            mode: None,
            conflict_scope: None,
        }
    }

    pub async fn version(&self) -> u64 {
        self.store
            .schedule(self.world.schedule.id)
            .await
            .unwrap()
            .version
            .get()
    }
}

/// A GET of `path` as sent, for what the typed methods cannot express (a malformed id).
pub async fn get(
    client: &Client,
    path: &str,
    options: &CallOptions,
) -> Result<rota_client::Reply<serde_json::Value>, ClientError> {
    rota_client::decode(client.send_raw(Method::GET, path, None, options).await?).await
}
