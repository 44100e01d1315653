//! The JSON rota keeps is pinned: the answers recorded under idempotency keys (one per keyed
//! operation, replayed for 24 hours), the documents of trades, time-off requests, held changes
//! and settings, and the events of the outbox. Each stored form has a snapshot in `stored/`
//! taken from a real database; every snapshot must read into its type and write back exactly
//! as stored. Renaming a field of a domain or wire type that is stored fails here, before it
//! breaks stored data (a change of form is a migration, then `ROTA_BLESS_STORED_FORMS=1 cargo
//! test -p rota-server --test api replay` takes the snapshots anew).

use std::path::PathBuf;

use rota_client::ops::{self, Operation};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::common::TestApp;
use crate::replay::{Retry, cases};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/api/stored")
}

/// The file of the answer recorded for `op`.
fn answer_file(op: &Operation) -> String {
    let name: String = format!("{} {}", op.method, op.template)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "answer-{}.json",
        name.split('-')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("-")
    )
}

/// What `op`'s command returns, as its stored answer is read back.
fn answer_form(op: &Operation) -> fn(&serde_json::Value) -> Result<serde_json::Value, String> {
    use rota_core::command::SwapResult;
    let o = |x: &Operation| x == op;
    if o(&ops::SET_AVAILABILITY) {
        same::<rota_core::directory::Agent>
    } else if o(&ops::IMPORT_SCHEDULE) || o(&ops::PUBLISH) || o(&ops::SET_REQUIREMENTS) {
        same::<rota_core::schedule::Schedule>
    } else if o(&ops::EDIT_SHIFT) || o(&ops::SHIFT_SWAPS) || o(&ops::PICKUP) || o(&ops::RELEASE) {
        same::<SwapResult>
    } else if o(&ops::CREATE_TRADE) || o(&ops::MATCH_TRADE) || o(&ops::CANCEL_TRADE) {
        same::<rota_core::trade::Trade>
    } else if o(&ops::REVIEW_TRADES) {
        same::<rota_api::trades::ReviewResponse>
    } else if o(&ops::CREATE_WEBHOOK) {
        same::<rota_api::webhooks::CreatedSubscription>
    } else if o(&ops::DECIDE_HELD) {
        same::<rota_core::held::HeldChange>
    } else if o(&ops::REQUEST_TIME_OFF) || o(&ops::DECIDE_TIME_OFF) || o(&ops::CANCEL_TIME_OFF) {
        same::<rota_core::timeoff::TimeOffRequest>
    } else if o(&ops::SET_BALANCE) {
        same::<rota_core::timeoff::Balance>
    } else if o(&ops::SET_ALLOWANCES) {
        same::<Vec<rota_core::timeoff::AllowanceDay>>
    } else {
        |_| Err("no stored form is named for this operation".into())
    }
}

/// The documents beside the answers: (file, the query that reads one, its form).
type Form = fn(&serde_json::Value) -> Result<serde_json::Value, String>;
const DOCUMENTS: [(&str, &str, Form); 5] = [
    (
        "trade.json",
        "SELECT doc FROM trades LIMIT 1",
        same::<rota_core::trade::Trade>,
    ),
    (
        "time-off-request.json",
        "SELECT doc FROM time_off_requests LIMIT 1",
        same::<rota_core::timeoff::TimeOffRequest>,
    ),
    (
        "held-change.json",
        "SELECT doc FROM held_changes LIMIT 1",
        same::<rota_core::held::HeldChange>,
    ),
    (
        "settings.json",
        "SELECT settings FROM business_unit_settings LIMIT 1",
        same::<rota_core::trade::BusinessUnitSettings>,
    ),
    (
        "event.json",
        "SELECT json_object('type', json_extract(events, '$[0].type'), 'data', \
         json_extract(events, '$[0].data')) FROM outbox_commits LIMIT 1",
        same::<rota_api::events::EventPayload>,
    ),
];

/// `doc` read into `T` and written again.
fn same<T: Serialize + DeserializeOwned>(
    doc: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let value: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&value).map_err(|e| e.to_string())
}

fn check(file: &str, form: Form) {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (take the snapshots: see this module's doc)",
            path.display()
        )
    });
    let stored: serde_json::Value = serde_json::from_str(&text).unwrap();
    let again = form(&stored).unwrap_or_else(|e| panic!("{file} no longer reads: {e}"));
    assert_eq!(
        again, stored,
        "{file} is written in another form than it is stored in"
    );
}

#[test]
fn every_recorded_answer_reads_back_as_it_was_stored() {
    for (op, retry) in cases() {
        if matches!(retry, Retry::Replayed(_)) {
            check(&answer_file(&op), answer_form(&op));
        }
    }
}

#[test]
fn every_stored_document_reads_back_as_it_was_stored() {
    for (file, _, form) in DOCUMENTS {
        check(file, form);
    }
}

/// Takes the snapshots of what `app`'s database holds after `op` ran under `key`.
pub(crate) async fn bless(app: &TestApp, op: &Operation, key: &str) {
    use sqlx::Row;
    let url = app
        .sqlite_url
        .as_deref()
        .expect("the replay cases run on SQLite");
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    let pretty = |raw: &str| {
        let v: serde_json::Value = serde_json::from_str(raw).unwrap();
        serde_json::to_string_pretty(&v).unwrap() + "\n"
    };
    let answer: String =
        sqlx::query("SELECT result FROM idempotency_keys WHERE idempotency_key = $1")
            .bind(key)
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
    std::fs::create_dir_all(dir()).unwrap();
    if *op == ops::CREATE_WEBHOOK {
        // A change for the subscription's outbox (no dispatcher takes it away).
        app.swap(&app.version_id().await, 0, 0, 1).await.unwrap();
    }
    std::fs::write(dir().join(answer_file(op)), pretty(&answer)).unwrap();
    for (file, query, _) in DOCUMENTS {
        if let Some(row) = sqlx::query(query).fetch_optional(&pool).await.unwrap() {
            std::fs::write(dir().join(file), pretty(&row.get::<String, _>(0))).unwrap();
        }
    }
    pool.close().await;
}
