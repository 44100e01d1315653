//! Several PostgreSQL hosts, one of which takes writes: how a node rides through a failover
//! (pg_auto_failover promoting a standby, say). sqlx connects to one host only, so the URL's
//! host list (`postgres://h1:p1,h2:p2/db`, as libpq writes it) is split here into one set of
//! options per host; the pool connects to the host found writable, a watcher looks for the
//! writable host again when the current one stops taking writes, and connections to a host
//! that became read-only or went away are dropped before they are handed out.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::Notify;

use rota_core::store::StoreError;

use crate::rows::db_error;

/// How long a look at one host may take before it counts as down.
const LOOK_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the watcher looks at the current host while nothing went wrong.
const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// The hosts of one database URL, and which of them the pool connects to now.
pub(crate) struct Hosts {
    candidates: Vec<(String, PgConnectOptions)>,
    current: AtomicUsize,
    wake: Notify,
}

impl Hosts {
    /// Splits `url`'s host list. `target_session_attrs`, if given, must ask for a host that
    /// takes writes (`read-write` or `primary`): rota writes on every connection.
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let invalid = |why: String| StoreError::Unavailable(why.into());
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid(format!("`{url}` is not a postgres:// URL")))?;
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, hostlist) = match authority.rfind('@') {
            Some(at) => (&authority[..=at], &authority[at + 1..]),
            None => ("", authority),
        };
        let tail = strip_session_attrs(tail).map_err(invalid)?;
        let candidates = hostlist
            .split(',')
            .map(|host| {
                let options =
                    PgConnectOptions::from_str(&format!("{scheme}://{userinfo}{host}{tail}"))
                        .map_err(db_error)?;
                Ok((
                    format!("{}:{}", options.get_host(), options.get_port()),
                    options,
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Self {
            candidates,
            current: AtomicUsize::new(0),
            wake: Notify::new(),
        })
    }

    pub(crate) fn several(&self) -> bool {
        self.candidates.len() > 1
    }

    /// Changes every host's options alike (the search path of a schema, say).
    pub(crate) fn map_options(&mut self, f: impl Fn(PgConnectOptions) -> PgConnectOptions) {
        for (_, options) in &mut self.candidates {
            *options = f(options.clone());
        }
    }

    /// The host the pool connects to now, as `host:port`.
    pub(crate) fn current(&self) -> String {
        self.candidates[self.current.load(Ordering::Relaxed)]
            .0
            .clone()
    }

    pub(crate) fn current_options(&self) -> PgConnectOptions {
        self.candidates[self.current.load(Ordering::Relaxed)]
            .1
            .clone()
    }

    /// Finds a host that takes writes, in the URL's order, and makes it the current one.
    pub(crate) async fn find_writable(&self) -> Result<PgConnectOptions, StoreError> {
        for (i, (name, options)) in self.candidates.iter().enumerate() {
            if takes_writes(options).await {
                if self.current.swap(i, Ordering::Relaxed) != i {
                    tracing::warn!(host = %name, "the database host that takes writes is now {name}");
                }
                return Ok(options.clone());
            }
        }
        let names: Vec<&str> = self.candidates.iter().map(|(n, _)| n.as_str()).collect();
        Err(StoreError::Unavailable(
            format!(
                "none of the database hosts {} takes writes now",
                names.join(", ")
            )
            .into(),
        ))
    }

    /// Asks the watcher to look for the writable host now.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Whether a pooled connection may be handed out: it answers and takes writes. One round
    /// trip, as the pool's own ping that it replaces.
    pub(crate) async fn usable(&self, conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
        match read_only(conn).await {
            Ok(false) => Ok(true),
            Ok(true) => {
                self.wake();
                Ok(false)
            }
            Err(e) => {
                self.wake();
                Err(e)
            }
        }
    }

    /// Runs until `pool` closes: looks at the current host every [`WATCH_PERIOD`], or at
    /// once when woken, and when it no longer takes writes points the pool's new connections
    /// at the host that does, looking again every quarter second until one does.
    pub(crate) async fn watch(self: Arc<Self>, pool: PgPool) {
        loop {
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(WATCH_PERIOD) => {}
            }
            if pool.is_closed() {
                return;
            }
            if takes_writes(&self.current_options()).await {
                continue;
            }
            loop {
                match self.find_writable().await {
                    Ok(options) => {
                        pool.set_connect_options(options);
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "looking for the database host that takes writes")
                    }
                }
                if pool.is_closed() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// Removes `target_session_attrs` from the URL's query, refusing values that would let rota
/// write to a standby.
fn strip_session_attrs(tail: &str) -> Result<String, String> {
    let Some((path, query)) = tail.split_once('?') else {
        return Ok(tail.to_owned());
    };
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("target_session_attrs", "read-write" | "primary")) => {}
            Some(("target_session_attrs", other)) => {
                return Err(format!(
                    "target_session_attrs={other}: rota writes, so it needs read-write"
                ));
            }
            _ => kept.push(pair),
        }
    }
    Ok(if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    })
}

async fn read_only(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let setting: String = sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
        .fetch_one(conn)
        .await?;
    Ok(setting == "on")
}

/// Whether a new connection to `options` answers within [`LOOK_TIMEOUT`] and takes writes.
async fn takes_writes(options: &PgConnectOptions) -> bool {
    let look = async {
        let mut conn = options.connect().await?;
        let read_only = read_only(&mut conn).await;
        let _ = conn.close().await;
        read_only
    };
    matches!(
        tokio::time::timeout(LOOK_TIMEOUT, look).await,
        Ok(Ok(false))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_list_becomes_one_set_of_options_per_host() {
        let hosts = Hosts::parse(
            "postgres://rota:s3cret@db1:5433,db2:5434/rota?target_session_attrs=read-write&application_name=rota",
        )
        .unwrap();
        let names: Vec<&str> = hosts.candidates.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["db1:5433", "db2:5434"]);
        for (_, options) in &hosts.candidates {
            assert_eq!(options.get_username(), "rota");
            assert_eq!(options.get_database(), Some("rota"));
            assert_eq!(options.get_application_name(), Some("rota"));
        }
        assert!(hosts.several());
        assert_eq!(hosts.current(), "db1:5433");
    }

    #[test]
    fn one_host_is_as_before() {
        let hosts = Hosts::parse("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert!(!hosts.several());
        assert_eq!(hosts.current(), "127.0.0.1:5432");
    }

    #[test]
    fn a_session_attribute_that_allows_a_standby_is_refused() {
        let Err(e) = Hosts::parse("postgres://a:1,b:2/db?target_session_attrs=any") else {
            panic!("accepted");
        };
        assert!(format!("{e:?}").contains("needs read-write"), "{e:?}");
    }
}
