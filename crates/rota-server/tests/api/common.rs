//! A server on port 0 over its own SQLite file, with the `World::disjoint` week published, and
//! clients of any role: what the self-service, trade and webhook tests share.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::sync::Arc;

use rota_api::problem::ErrorCode;
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::{CallOptions, Client, ClientError};
use rota_core::auth::Role;
use rota_core::clock::FixedClock;
use rota_core::ids::ShiftId;
use rota_core::store::ScheduleStore;
use rota_core::testkit::{World, ctx};
use rota_server::{Application, Config};
use rota_store::{Durability, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub admin: Client,
    pub admin_id: String,
    pub anonymous: Client,
    pub store: Store,
    pub world: World,
    pub clock: Arc<FixedClock>,
    _stop: tokio_util::sync::DropGuard,
    /// The database's directory (SQLite), removed with the app.
    _dir: Option<tempfile::TempDir>,
    /// The SQLite database's URL, for the tests that read what it stores.
    pub sqlite_url: Option<String>,
}

// World::disjoint(4, 20): shift k is owned by agent k % 5, and open when k % 5 == 4; one-hour
// shifts two hours apart from Monday 2026-11-30 00:00 Chicago; now is 2026-11-25.
pub async fn spawn(tune: impl FnOnce(&mut Config)) -> TestApp {
    spawn_world(World::disjoint(4, 20), true, tune).await
}

/// The server over `world` (imported, and published if asked), configured by `tune` after the
/// tests' defaults (rate limits out of the way, loopback webhook targets, quick retries).
pub async fn spawn_world(world: World, publish: bool, tune: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rota.db").display());
    let store = Store::Sqlite(
        SqliteStore::connect(&url, Durability::Normal)
            .await
            .unwrap(),
    );
    let mut app = serve_store(store, world, publish, tune).await;
    app._dir = Some(dir);
    app.sqlite_url = Some(url);
    app
}

/// The server over `store`, with `world` loaded into it (and published if asked), configured
/// as [`spawn_world`] configures it.
pub async fn serve_store(
    store: Store,
    world: World,
    publish: bool,
    tune: impl FnOnce(&mut Config),
) -> TestApp {
    world.load(&store).await.unwrap();
    if publish {
        store
            .publish(world.schedule.id, &ctx(world.now, "publish"))
            .await
            .unwrap();
    }
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        rate_limit_per_minute: 100_000,
        rate_limit_burst: 10_000,
        ..Config::default()
    };
    config.webhooks.allow_private_targets = true;
    config.webhooks.retry_base_ms = 20;
    config.webhooks.poll_ms = 50;
    tune(&mut config);
    let clock = Arc::new(FixedClock::new(world.now));
    let app = Application::with_store(config, store.clone(), clock.clone())
        .await
        .unwrap();
    let addr = app.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(app.run_until_stopped(stop.clone()));
    let anonymous = Client::new(&format!("http://{addr}"));
    let admin = rota_app::tokens::create_client(&store, Role::Admin, None, None)
        .await
        .unwrap();
    let token = anonymous
        .token(&admin.client_id, &admin.client_secret)
        .await
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        _dir: None,
        sqlite_url: None,
        admin: anonymous.clone().with_bearer(&token.access_token),
        admin_id: admin.client_id,
        anonymous,
        store,
        world,
        clock,
        _stop: stop.drop_guard(),
    }
}

impl TestApp {
    /// Another node over `store` (the same database as this one's, through a pool of its
    /// own), on the same clock: its address, and what keeps it running.
    pub async fn another_node(&self, store: Store) -> (String, tokio_util::sync::DropGuard) {
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            rate_limit_per_minute: 100_000,
            rate_limit_burst: 10_000,
            ..Config::default()
        };
        let app = Application::with_store(config, store, self.clock.clone())
            .await
            .unwrap();
        let addr = app.local_addr().unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(app.run_until_stopped(stop.clone()));
        (format!("http://{addr}"), stop.drop_guard())
    }

    /// A client of `role` in the world's business unit; agents act as `agents[agent]`.
    pub async fn client(&self, role: Role, agent: Option<usize>) -> Client {
        let bu = (role != Role::Admin).then_some(self.world.bu.id);
        self.client_in(role, bu, agent).await
    }

    /// A client of `role` scoped to `bu` (any, if none); agents act as `agents[agent]`.
    pub async fn client_in(
        &self,
        role: Role,
        bu: Option<rota_core::ids::BusinessUnitId>,
        agent: Option<usize>,
    ) -> Client {
        let agent = agent.map(|i| self.world.agents[i].id);
        let c = rota_app::tokens::create_client(&self.store, role, bu, agent)
            .await
            .unwrap();
        let token = self
            .anonymous
            .token(&c.client_id, &c.client_secret)
            .await
            .unwrap();
        self.anonymous.clone().with_bearer(&token.access_token)
    }

    /// A portal user (an agent user acts as `agents[agent]`) and the path of their one-time
    /// sign-in link.
    pub async fn portal_user(&self, username: &str, role: Role, agent: Option<usize>) -> String {
        use rota_core::store::UserStore;
        let user = rota_core::auth::User::new(
            username,
            &agent.map_or_else(
                || username.to_owned(),
                |i| self.world.agents[i].name.clone(),
            ),
            role,
            (role != Role::Admin).then_some(self.world.bu.id),
            agent.map(|i| self.world.agents[i].id),
        )
        .unwrap();
        self.store.create_user(&user).await.unwrap();
        rota_app::users::create_link(&self.store, user.id, self.world.now)
            .await
            .unwrap()
            .0
    }

    pub async fn agent(&self, i: usize) -> Client {
        self.client(Role::Agent, Some(i)).await
    }

    pub fn shift(&self, k: usize) -> ShiftId {
        self.world.schedule.shifts[k].id
    }

    /// The business unit's settings: the defaults as `tune` leaves them.
    pub async fn set_settings(
        &self,
        tune: impl FnOnce(&mut rota_core::trade::BusinessUnitSettings),
    ) {
        let mut settings = rota_core::trade::BusinessUnitSettings::default();
        tune(&mut settings);
        self.admin
            .set_settings(self.world.bu.id, &settings)
            .await
            .unwrap();
    }

    pub async fn store_shift(&self, k: usize) -> rota_core::schedule::Shift {
        self.store.shift(self.shift(k)).await.unwrap()
    }

    pub async fn owner(&self, k: usize) -> Option<rota_core::ids::AgentId> {
        self.store.shift(self.shift(k)).await.unwrap().owner
    }

    pub async fn version_id(&self) -> String {
        self.store
            .schedule(self.world.schedule.id)
            .await
            .unwrap()
            .version_id()
            .to_string()
    }

    /// A one-item atomic bulk swap: agent `a` gives shift `o` for shift `n`, at `base`.
    pub async fn swap(
        &self,
        base: &str,
        a: usize,
        o: usize,
        n: usize,
    ) -> Result<rota_client::Reply<rota_api::swaps::SwapResponseBody>, ClientError> {
        let body = SwapRequestBody {
            schedule_version_id: base.to_owned(),
            shift_swaps: vec![SwapItemBody {
                agent_id: self.world.agents[a].id.to_string(),
                original_shift_id: self.shift(o).to_string(),
                new_shift_id: self.shift(n).to_string(),
                reason_code: "supervisor".into(),
                counterpart_agent_id: None,
            }],
            effective_date: None,
            mode: None,
            conflict_scope: None,
        };
        self.admin.shift_swaps(&body, &CallOptions::default()).await
    }

    /// An instant `hours` after the world's "now".
    pub fn at(&self, hours: i64) -> jiff::Timestamp {
        self.world
            .now
            .checked_add(jiff::SignedDuration::from_hours(hours))
            .unwrap()
    }
}

pub fn problem_code(e: &ClientError) -> (u16, ErrorCode) {
    let p = e
        .problem()
        .unwrap_or_else(|| panic!("expected a problem body, got {e}"));
    (p.status, p.code)
}
