//! Authentication and roles over HTTP: client-credential tokens and their expiry, agents limited to their own published shifts, a supervisor confined to one business unit.

use reqwest::Method;
use rota_api::paging::Paging;
use rota_api::problem::ErrorCode;
use rota_api::schedules::{EditBody, ReadQuery, VersionsQuery};
use rota_client::{CallOptions, ClientError};
use rota_core::auth::Role;
use rota_core::command::EditChange;
use rota_core::store::{DirectoryStore, ScheduleStore};

use crate::common::problem_code;
use crate::strict::spawn;

#[tokio::test]
async fn tokens_come_from_client_credentials_and_expire() {
    let app = spawn().await;
    let err = app
        .anonymous
        .business_units(&Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (401, ErrorCode::Unauthenticated));
    let ClientError::Problem { headers, .. } = &err else {
        panic!()
    };
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let wrong = app.anonymous.clone().with_bearer("not-a-token");
    assert_eq!(
        problem_code(&wrong.business_units(&Paging::default()).await.unwrap_err()).0,
        401
    );
    let c = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    assert!(
        app.anonymous
            .token(&c.client_id, "wrong-secret")
            .await
            .is_err()
    );
    // Form-field credentials work as well as HTTP Basic.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        c.client_id, c.client_secret
    );
    let response = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((form.into_bytes(), "application/x-www-form-urlencoded")),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: rota_api::oauth::TokenResponse = response.json().await.unwrap();
    assert_eq!(
        (token.token_type.as_str(), token.expires_in),
        ("bearer", 3600)
    );
    let supervisor = app.anonymous.clone().with_bearer(&token.access_token);
    supervisor.business_units(&Paging::default()).await.unwrap();
    app.clock.set(
        app.world
            .now
            .checked_add(jiff::SignedDuration::from_secs(3601))
            .unwrap(),
    );
    let expired = supervisor
        .business_units(&Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&expired).0, 401);
    // RFC 6750 §3.1: a token that failed says so in the challenge; none at all does not.
    let challenge = |e: &ClientError| {
        let ClientError::Problem { headers, .. } = e else {
            panic!("{e}")
        };
        headers["www-authenticate"].to_str().unwrap().to_owned()
    };
    assert!(challenge(&expired).contains("error=\"invalid_token\""));
    assert!(!challenge(&err).contains("error="));
    let bad_grant = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((
                b"grant_type=password".to_vec(),
                "application/x-www-form-urlencoded",
            )),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(bad_grant.status(), 400);
    let body: serde_json::Value = bad_grant.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    // RFC 6749 §5.2: no grant_type at all is a malformed request, not an unsupported grant.
    let no_grant = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((
                format!(
                    "client_id={}&client_secret={}",
                    c.client_id, c.client_secret
                )
                .into_bytes(),
                "application/x-www-form-urlencoded",
            )),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(no_grant.status(), 400);
    let body: serde_json::Value = no_grant.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn agents_see_only_their_own_published_shifts_and_cannot_swap_or_edit() {
    let app = spawn().await;
    let agent = app
        .as_client(Role::Agent, Some(app.world.bu.id), Some(1))
        .await;
    let id = app.world.schedule.id;
    // Draft schedules are not shown to agents.
    let err = agent
        .schedule(id, &ReadQuery::default(), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
    app.client
        .publish(id, &CallOptions::default())
        .await
        .unwrap();
    let mine = agent
        .schedule(id, &ReadQuery::default(), &CallOptions::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert!(!mine.shifts.items.is_empty());
    assert!(
        mine.shifts
            .items
            .iter()
            .all(|s| s.owner == Some(app.world.agents[1].id))
    );
    let other = ReadQuery {
        agent_id: Some(app.world.agents[0].id.to_string()),
        ..ReadQuery::default()
    };
    assert_eq!(
        problem_code(
            &agent
                .schedule(id, &other, &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    assert_eq!(
        problem_code(
            &agent
                .versions(id, &VersionsQuery::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    let err = agent
        .shift_swaps(&app.body(2, &[(1, 1, 0)]), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
    let shift = app.world.schedule.shifts[1].id;
    let open = EditBody {
        expected_version: 1,
        change: EditChange::Open.into(),
    };
    assert_eq!(
        problem_code(
            &agent
                .edit_shift(shift, &open, &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    let doc: rota_core::directory::AvailabilityDoc = serde_json::from_value(
        serde_json::json!({"weekly": [{"day": "monday", "start": "08:00", "end": "12:00"}]}),
    )
    .unwrap();
    agent
        .set_availability(app.world.agents[1].id, &doc)
        .await
        .unwrap();
    let err = agent
        .set_availability(app.world.agents[0].id, &doc)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn a_supervisor_scoped_to_one_business_unit_finds_nothing_in_another() {
    let app = spawn().await;
    let elsewhere = rota_core::testkit::business_unit("Dallas");
    app.store.create_business_unit(&elsewhere).await.unwrap();
    let supervisor = app
        .as_client(Role::Supervisor, Some(elsewhere.id), None)
        .await;
    let err = supervisor
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap_err();
    // Outside its unit nothing exists for it: 404, naming nothing of the other unit.
    assert_eq!(problem_code(&err), (404, ErrorCode::NotFound));
    let id = app.world.schedule.id;
    assert_eq!(
        problem_code(
            &supervisor
                .schedule(id, &ReadQuery::default(), &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    assert_eq!(
        problem_code(
            &supervisor
                .publish(id, &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    let units = supervisor
        .business_units(&Paging::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(
        units.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![elsewhere.id]
    );
    // Its listing of one is paged like any other: past the end it is empty.
    let past = Paging {
        offset: 1,
        limit: 10,
    };
    let page = supervisor
        .business_units(&past)
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!((page.items.len(), page.total, page.offset), (0, 1, 1));
    // In its own unit the same role may swap, and the history names the client.
    let home = app
        .as_client(Role::Supervisor, Some(app.world.bu.id), None)
        .await;
    home.shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap();
    let versions = app
        .store
        .versions(app.world.schedule.id, rota_core::store::PageRequest::all())
        .await
        .unwrap();
    assert!(versions.items[0].actor.starts_with("rota-"));
    assert_eq!(app.version().await, 2);
}
