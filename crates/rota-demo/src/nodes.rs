//! The service as one or several in-process nodes on one fresh database, each node with its own
//! store (connection pool and write cache), webhook dispatcher and rate limiter, as separate
//! processes would have.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rota_core::clock::SystemClock;
use rota_store::{Durability, PgStore, SqliteStore, Store};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where a run's fresh database lives.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file in this directory (one node only: SQLite is the single-node default).
    Sqlite(std::path::PathBuf),
    /// A new schema in this PostgreSQL database, dropped when the run ends.
    Postgres(String),
}

impl Database {
    /// `url`: `postgres://…`, or `None` for SQLite files in `dir`.
    pub fn new(url: Option<&str>, dir: &Path) -> Result<Self> {
        match url {
            None => Ok(Self::Sqlite(dir.to_owned())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Self::Postgres(url.to_owned()))
            }
            Some(other) => anyhow::bail!(
                "--database-url must be postgres://… (SQLite files in a temporary directory are the default): {other}"
            ),
        }
    }
}

/// Running nodes of the service on one database.
pub struct Cluster {
    /// One store per node, in node order; the first also seeds and checks.
    pub stores: Vec<Store>,
    /// Each node's address, in node order.
    pub addrs: Vec<SocketAddr>,
    stop: CancellationToken,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    schema: Option<(String, String)>,
}

impl Cluster {
    /// Opens a fresh database (`run` names it) with `nodes` stores on it; no server runs yet,
    /// so the data can be loaded first.
    pub async fn open(db: &Database, run: &str, nodes: usize) -> Result<Self> {
        anyhow::ensure!(nodes >= 1, "at least one node");
        let (stores, schema) = match db {
            Database::Sqlite(dir) => {
                anyhow::ensure!(
                    nodes == 1,
                    "several nodes share a PostgreSQL database: add --database-url postgres://…"
                );
                let path = dir.join(format!("{run}.db"));
                let url = format!("sqlite://{}", path.display());
                let store = SqliteStore::connect(&url, Durability::Full)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?;
                (vec![Store::Sqlite(store)], None)
            }
            Database::Postgres(url) => {
                let schema = format!("rota_{run}_{}", uuid::Uuid::now_v7().simple());
                let mut stores = Vec::with_capacity(nodes);
                // One after the other: the first creates the schema and runs the migrations.
                for _ in 0..nodes {
                    let store = PgStore::connect(url, Some(&schema))
                        .await
                        .with_context(|| format!("connecting to {url}"))?;
                    stores.push(Store::Postgres(store));
                }
                (stores, Some((url.clone(), schema)))
            }
        };
        Ok(Self {
            stores,
            addrs: Vec::new(),
            stop: CancellationToken::new(),
            servers: Vec::new(),
            schema,
        })
    }

    /// Starts one server per store on an ephemeral loopback port.
    pub async fn serve(&mut self, config: &rota_server::Config) -> Result<()> {
        for store in &self.stores {
            let app = rota_server::Application::with_store(
                config.clone(),
                store.clone(),
                Arc::new(SystemClock),
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            self.addrs.push(app.local_addr()?);
            self.servers
                .push(tokio::spawn(app.run_until_stopped(self.stop.clone())));
        }
        Ok(())
    }

    /// What ends with the cluster (the demo's network links, say).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops every node (each drains and closes its store) and drops a PostgreSQL schema.
    pub async fn shut_down(self) {
        self.stop.cancel();
        for server in self.servers {
            let _ = server.await;
        }
        for store in &self.stores {
            store.close().await;
        }
        if let Some((url, schema)) = &self.schema
            && let Err(e) = PgStore::drop_schema(url, schema).await
        {
            tracing::warn!(error = %e, schema, "could not drop the run's schema");
        }
    }
}
