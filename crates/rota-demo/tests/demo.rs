//! The quick demo end to end, on SQLite and on three nodes sharing PostgreSQL (when
//! `ROTA_TEST_DATABASE_URL` is set; `.ci/run` sets it and fails the run if this skips).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed step should stop the test loudly

use std::time::Duration;

use rota_demo::{DemoArgs, RunReport, Strategy};

fn quick(database_url: Option<String>, nodes: usize) -> DemoArgs {
    DemoArgs {
        agents: 2000,
        swaps: 2000,
        batch_size: 50,
        portal_rate: Some(10.0),
        seed: 7,
        retry_delay: Duration::from_millis(5),
        network_delay: Duration::from_millis(2),
        database_url,
        nodes,
    }
    .quick()
}

/// Every run keeps the invariants; rota's way applies every still-valid swap exactly once.
fn assert_invariants(reports: &[RunReport], text: &str) {
    assert_eq!(reports.len(), Strategy::ALL.len(), "{text}");
    for r in reports {
        assert!(
            r.replay_matches,
            "{:?}: the schedule is not the replay of its history\n{text}",
            r.strategy
        );
        assert_eq!(r.applied_twice, 0, "{:?}\n{text}", r.strategy);
        assert!(
            r.coverage_matches,
            "{:?}: the kept coverage is not the shifts' coverage\n{text}",
            r.strategy
        );
        let t = &r.tally;
        assert_eq!(
            t.applied + t.stale + t.rejected + t.failed,
            600,
            "{:?}: every swap accounted for\n{text}",
            r.strategy
        );
        assert!(
            r.portal_commits > 0,
            "{:?}: the portal was busy\n{text}",
            r.strategy
        );
    }
    let rota = reports
        .iter()
        .find(|r| r.strategy == Strategy::Rota)
        .expect("rota's way ran");
    // Every still-valid swap applied exactly once: none failed, each reported applied is in
    // the history once, and each reported stale really had a shift the portal changed.
    assert_eq!(rota.tally.failed, 0, "{text}");
    assert_eq!(rota.tally.rejected, 0, "{text}");
    assert_eq!(rota.applied_but_missing, 0, "{text}");
    assert_eq!(rota.stale_but_valid, 0, "{text}");
    assert!(text.contains("| rota's way |"), "{text}");
    assert!(text.contains("| their script on rota |"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_demo_keeps_every_invariant() {
    let mut out = Vec::new();
    let reports = rota_demo::run(&quick(None, 1), &mut out).await.unwrap();
    assert_invariants(&reports, &String::from_utf8(out).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_demo_on_three_nodes_sharing_postgres_keeps_every_invariant() {
    let Ok(url) = std::env::var("ROTA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("ROTA_REQUIRE_POSTGRES").is_none(),
            "ROTA_REQUIRE_POSTGRES is set: the PostgreSQL case must run, set ROTA_TEST_DATABASE_URL"
        );
        eprintln!("skipped on PostgreSQL: ROTA_TEST_DATABASE_URL is not set");
        return;
    };
    let mut out = Vec::new();
    let reports = rota_demo::run(&quick(Some(url), 3), &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("3 node(s) on PostgreSQL"), "{text}");
    assert_invariants(&reports, &text);
}

#[test]
fn several_nodes_need_postgres() {
    let dir = std::env::temp_dir();
    let db = rota_demo::Database::new(None, &dir).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let opened = runtime.block_on(rota_demo::Cluster::open(&db, "nodes-check", 3));
    let message = opened.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("PostgreSQL"), "{message}");
    assert!(rota_demo::Database::new(Some("mysql://x"), &dir).is_err());
}
