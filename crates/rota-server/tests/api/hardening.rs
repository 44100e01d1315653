//! What an attacker and an operator found (issue "faults answer 503…"), each held by a test
//! that failed before its fix: weeks that start on the wrong day or in an absurd year, database
//! text in errors, another unit's id in a 403, case-sensitive auth schemes, two authentication
//! methods at once, a version from the future called stale, and lists without bounds.

use crate::common::{problem_code, spawn};
use reqwest::Method;
use rota_api::problem::ErrorCode;
use rota_api::schedules::{EditBody, ImportBody, ReadQuery};
use rota_api::trades::NewTradeBody;
use rota_client::CallOptions;
use rota_core::auth::Role;
use rota_core::command::{EditChange, ItemOutcome, ViolationCode};
use rota_core::store::DirectoryStore;
use rota_core::trade::Interval;
use rota_core::version::ScheduleVersion;

fn import(bu: &str, week: jiff::civil::Date) -> ImportBody {
    ImportBody {
        business_unit_id: bu.to_owned(),
        week_start: week,
        shifts: Vec::new(),
    }
}

#[tokio::test]
async fn a_week_starts_on_the_units_first_day_in_a_sane_year_and_exists_once() {
    let app = spawn(|_| {}).await;
    let bu = app.world.bu.id.to_string();
    for week in [
        jiff::civil::date(2026, 12, 9),  // a Wednesday
        jiff::civil::date(2026, 12, 11), // the Friday after
        jiff::civil::date(-9999, 1, 4),  // a Monday, ten thousand years ago
        jiff::civil::date(2999, 1, 7),   // a Monday far ahead
    ] {
        let e = app
            .admin
            .import_schedule(&import(&bu, week), &CallOptions::default())
            .await
            .unwrap_err();
        assert_eq!(problem_code(&e), (422, ErrorCode::RuleViolation), "{week}");
        let ItemOutcome::Rejected { violations } = &e.problem().unwrap().items[0].outcome else {
            panic!("{e}");
        };
        assert_eq!(
            violations[0].code,
            ViolationCode::InvalidWeekStart,
            "{week}"
        );
    }
    // The week already imported: a stable code and a sentence of the domain, not the
    // database's text.
    let again = app
        .admin
        .import_schedule(
            &import(&bu, app.world.schedule.week_start),
            &CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&again), (409, ErrorCode::AlreadyExists));
    let detail = &again.problem().unwrap().detail;
    assert!(
        detail.contains("a schedule of this business unit for this week"),
        "{detail}"
    );
    assert!(
        !detail.contains("UNIQUE") && !detail.contains("schedules."),
        "{detail}"
    );
}

#[tokio::test]
async fn outside_its_unit_a_client_finds_nothing_and_no_id_of_it_is_named() {
    let app = spawn(|_| {}).await;
    let dallas = rota_core::testkit::business_unit("Dallas");
    app.store.create_business_unit(&dallas).await.unwrap();
    let elsewhere = app.client_in(Role::Supervisor, Some(dallas.id), None).await;
    let e = elsewhere
        .schedule(
            app.world.schedule.id,
            &ReadQuery::default(),
            &CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (404, ErrorCode::NotFound));
    let detail = &e.problem().unwrap().detail;
    assert!(!detail.contains(&app.world.bu.id.to_string()), "{detail}");
    // In the same words as an id that does not exist.
    let unknown = rota_core::ids::ScheduleId::new();
    let none = elsewhere
        .schedule(unknown, &ReadQuery::default(), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(
        detail.replace(&app.world.schedule.id.to_string(), "ID"),
        none.problem()
            .unwrap()
            .detail
            .replace(&unknown.to_string(), "ID")
    );
    // Inside its unit, what its role may not do is still 403.
    let agent = app.agent(0).await;
    let e = agent
        .publish(app.world.schedule.id, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (403, ErrorCode::Forbidden));
}

/// Giving a shift to another unit's agent reads exactly as giving it to an id that does not
/// exist: the same code and words, so a supervisor learns nothing of which ids live elsewhere.
#[tokio::test]
async fn another_units_agent_is_answered_as_an_unknown_one() {
    let app = spawn(|_| {}).await;
    let dallas = rota_core::testkit::business_unit("Dallas");
    app.store.create_business_unit(&dallas).await.unwrap();
    let theirs = rota_core::testkit::unconstrained_agent(&dallas, "Dana");
    app.store
        .create_agents(std::slice::from_ref(&theirs))
        .await
        .unwrap();
    let boss = app.client(Role::Supervisor, None).await;
    let shift = app.store_shift(0).await;
    let answer = |agent_id| {
        let boss = boss.clone();
        let edit = EditBody {
            expected_version: shift.version.get(),
            change: rota_api::schedules::EditChangeBody::Reassign { agent_id },
        };
        async move {
            let e = boss
                .edit_shift(shift.id, &edit, &CallOptions::default())
                .await
                .unwrap_err();
            let p = e.problem().unwrap().clone();
            let ItemOutcome::Rejected { violations } = &p.items[0].outcome else {
                panic!("{e}");
            };
            (
                p.status,
                p.code,
                violations[0].code,
                violations[0].detail.replace(&agent_id.to_string(), "AGENT"),
                p.detail.replace(&agent_id.to_string(), "AGENT"),
            )
        }
    };
    let elsewhere = answer(theirs.id).await;
    let unknown = answer(rota_core::ids::AgentId::new()).await;
    assert_eq!(elsewhere, unknown);
    assert_eq!(elsewhere.2, ViolationCode::AgentNotFound);
    assert!(
        !elsewhere.3.contains(&dallas.id.to_string()),
        "{elsewhere:?}"
    );
    assert_eq!(app.store_shift(0).await, shift, "nothing was written");
}

#[tokio::test]
async fn auth_schemes_are_case_insensitive_and_one_method_authenticates() {
    let app = spawn(|_| {}).await;
    let c = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    let token = app
        .anonymous
        .token(&c.client_id, &c.client_secret)
        .await
        .unwrap()
        .access_token;
    for scheme in ["BEARER", "bearer", "Bearer"] {
        let response = app
            .anonymous
            .send_raw(
                Method::GET,
                "/api/v2/wfm/business-units",
                None,
                &CallOptions::default().header("Authorization", &format!("{scheme} {token}")),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
    // HTTP Basic and the form's credentials together: RFC 6749 §2.3 allows one method.
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", c.client_id, c.client_secret));
    let both = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((
                format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}",
                    c.client_id, c.client_secret
                )
                .into_bytes(),
                "application/x-www-form-urlencoded",
            )),
            &CallOptions::default().header("Authorization", &format!("Basic {basic}")),
        )
        .await
        .unwrap();
    assert_eq!(both.status(), 400);
    let body: serde_json::Value = both.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn a_version_from_the_future_is_unknown_and_every_list_has_a_bound() {
    let app = spawn(|_| {}).await;
    let edit = EditBody {
        expected_version: u64::MAX,
        change: EditChange::Open.into(),
    };
    let e = app
        .admin
        .edit_shift(app.shift(0), &edit, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::UnknownVersion));
    assert!(ScheduleVersion::new(u64::MAX).is_ok());
    // A trade offering 9,000 acceptable intervals: refused, naming the list.
    let me = app.agent(0).await;
    let intervals: Vec<Interval> = (0..9_000)
        .map(|i| Interval::new(app.at(200 + i), app.at(201 + i)).unwrap())
        .collect();
    let offer = NewTradeBody {
        shift_id: app.shift(0),
        target_agent_id: None,
        acceptable_intervals: intervals.into_iter().map(Into::into).collect(),
        expires_at: app.at(24),
    };
    let e = me.create_trade(&offer).await.unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::TooManyItems));
    assert_eq!(e.problem().unwrap().errors[0].field, "acceptableIntervals");
}

/// The server's `host:port`, for raw connections.
fn host_port(app: &crate::common::TestApp) -> String {
    app.anonymous
        .base_url()
        .trim_start_matches("http://")
        .to_owned()
}

/// Reads from `stream` until the server closes it (EOF or reset).
async fn closed_by_server(stream: &mut tokio::net::TcpStream) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    // The bound only turns a hang into a failure; the server's timeout closes it long before.
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept a slow connection open");
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_do_not_crowd_out_requests() {
    use tokio::io::AsyncWriteExt;
    let app = crate::common::spawn(|c| {
        c.header_read_timeout = std::time::Duration::from_millis(300);
    })
    .await;
    let addr = host_port(&app);
    // Three hundred clients trickle half a request each and never finish it.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: rota\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    // A legitimate request is served meanwhile.
    app.admin
        .business_units(&rota_api::paging::Paging::default())
        .await
        .unwrap();
    // And the slow ones are closed by the header-read timeout, as is one that says nothing.
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    closed_by_server(&mut silent).await;
    closed_by_server(&mut slow[0]).await;
}

#[tokio::test]
async fn a_connection_beyond_the_cap_is_closed_on_accept() {
    let app = crate::common::spawn(|c| {
        c.max_connections = 4;
        c.header_read_timeout = std::time::Duration::from_secs(600);
    })
    .await;
    let addr = host_port(&app);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    closed_by_server(&mut fifth).await;
}

/// A token request for `id` with `secret`, as its status and `Retry-After`.
async fn ask_token(app: &crate::common::TestApp, id: &str, secret: &str) -> (u16, Option<String>) {
    let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
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
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry_after)
}

#[tokio::test]
async fn sign_in_is_throttled_per_client_and_per_address() {
    let app = spawn(|_| {}).await;
    let c = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    // Issuance: thirty tokens a minute for one client id, then 429 with Retry-After.
    for i in 0..30 {
        assert_eq!(
            ask_token(&app, &c.client_id, &c.client_secret).await.0,
            200,
            "token {i}"
        );
    }
    let (status, retry_after) = ask_token(&app, &c.client_id, &c.client_secret).await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    // Wrong secrets: twenty, then the next wrong one waits; the right one never does, so a
    // flood of wrong secrets for a client id or from an address locks nobody out.
    let d = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    for _ in 0..20 {
        assert_eq!(ask_token(&app, &d.client_id, "wrong").await.0, 401);
    }
    let (status, retry_after) = ask_token(&app, &d.client_id, "wrong").await;
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    assert_eq!(ask_token(&app, &d.client_id, &d.client_secret).await.0, 200);
}

#[tokio::test]
async fn unknown_bearer_tokens_from_one_address_are_throttled() {
    let app = spawn(|_| {}).await;
    // A token taken before the storm keeps working (it is known).
    let known = app.client(Role::Supervisor, None).await;
    for i in 0..20 {
        let stranger = app.anonymous.clone().with_bearer(&format!("made-up-{i}"));
        let e = stranger
            .business_units(&rota_api::paging::Paging::default())
            .await
            .unwrap_err();
        assert_eq!(problem_code(&e).0, 401);
    }
    let stranger = app.anonymous.clone().with_bearer("made-up-again");
    let e = stranger
        .business_units(&rota_api::paging::Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (429, ErrorCode::RateLimited));
    // With the rate-limit fields every /api answer carries, naming the quota it met.
    let rota_client::ClientError::Problem { headers, .. } = &e else {
        panic!("{e}");
    };
    let field = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        field("ratelimit-policy").as_deref(),
        Some("\"failed-authentications\";q=20;w=60")
    );
    assert!(
        field("ratelimit").is_some_and(|v| v.starts_with("\"failed-authentications\";r=0;t=")),
        "{headers:?}"
    );
    assert_eq!(field("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(field("retry-after"), field("x-ratelimit-reset"));
    known
        .business_units(&rota_api::paging::Paging::default())
        .await
        .unwrap();
    // A valid token this node has not seen yet (issued by another node) is looked up and
    // answered, whatever the address sent before it.
    let c = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    use rota_core::store::AuthStore;
    app.store
        .store_token(
            &rota_app::secrets::hash("from-another-node"),
            &c.client_id,
            app.at(1),
        )
        .await
        .unwrap();
    app.anonymous
        .clone()
        .with_bearer("from-another-node")
        .business_units(&rota_api::paging::Paging::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_client_holds_at_most_a_hundred_live_tokens() {
    let app = spawn(|c| {
        c.tokens_per_client_minute = 10_000;
        c.tokens_per_address_minute = 10_000;
    })
    .await;
    let c = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    for i in 0..100 {
        assert_eq!(
            ask_token(&app, &c.client_id, &c.client_secret).await.0,
            200,
            "token {i}"
        );
    }
    assert_eq!(ask_token(&app, &c.client_id, &c.client_secret).await.0, 429);
}

/// A window or an interval that ends before it starts reads (it is well-formed JSON of the
/// document's shape) and is refused by its command: 422 naming the item, nothing written.
#[tokio::test]
async fn a_window_that_ends_before_it_starts_is_refused_by_its_command_naming_the_item() {
    let app = spawn(|_| {}).await;
    let inverted = rota_api::trades::IntervalBody {
        start: app.at(30),
        end: app.at(29),
    };
    let offer = NewTradeBody {
        shift_id: app.shift(0),
        target_agent_id: None,
        acceptable_intervals: vec![
            Interval::new(app.at(10), app.at(11)).unwrap().into(),
            inverted,
        ],
        expires_at: app.at(24),
    };
    let e = app.agent(0).await.create_trade(&offer).await.unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::Unprocessable));
    assert_eq!(
        e.problem().unwrap().errors[0].field,
        "acceptableIntervals[1]"
    );
    let shift = app.store_shift(0).await;
    let edit = EditBody {
        expected_version: shift.version.get(),
        change: rota_api::schedules::EditChangeBody::Move {
            window: rota_api::schedules::WindowBody {
                start: shift.window.end(),
                end: shift.window.start(),
            },
        },
    };
    let e = app
        .admin
        .edit_shift(shift.id, &edit, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::Unprocessable));
    assert_eq!(e.problem().unwrap().errors[0].field, "change.window");
    assert_eq!(app.store_shift(0).await, shift, "nothing was written");
}

/// An import that gives one agent two shifts at once is refused, naming the later one; the
/// same two shifts for two agents import.
#[tokio::test]
async fn an_import_that_double_books_an_agent_is_refused() {
    let app = spawn(|_| {}).await;
    let bu = app.world.bu.id.to_string();
    let week = jiff::civil::date(2026, 12, 7);
    let at = |h: i64| app.at(12 * 24 + h);
    let shift = |agent: usize, from: i64, to: i64| rota_api::schedules::ImportShift {
        id: None,
        agent_id: Some(app.world.agents[agent].id.to_string()),
        start: at(from),
        end: at(to),
        required_skill: None,
        activity_code: "work".into(),
        activities: Vec::new(),
    };
    let body = ImportBody {
        shifts: vec![shift(0, 14, 22), shift(0, 18, 26)],
        ..import(&bu, week)
    };
    let e = app
        .admin
        .import_schedule(&body, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::RuleViolation));
    let ItemOutcome::Rejected { violations } = &e.problem().unwrap().items[0].outcome else {
        panic!("{e}");
    };
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].code, ViolationCode::Overlap);
    let apart = ImportBody {
        shifts: vec![shift(0, 14, 22), shift(1, 18, 26)],
        ..import(&bu, week)
    };
    app.admin
        .import_schedule(&apart, &CallOptions::default())
        .await
        .unwrap();
}

/// Sends `head` and `body` on a fresh connection, then, while the answer has not come, one
/// byte of `trickle` every 50 ms; returns the whole answer (the server closes the connection
/// after it).
async fn answer_to_a_short_body(
    app: &crate::common::TestApp,
    head: &str,
    body: &[u8],
    trickle: bool,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(host_port(app))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut pace = tokio::time::interval(std::time::Duration::from_millis(50));
    // The bound only turns a hang into a failure.
    tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                },
                _ = pace.tick(), if trickle && answer.is_empty() => {
                    let _ = stream.write_all(b"x").await;
                }
            }
        }
    })
    .await
    .expect("the server kept the connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_stops_short_or_trickles_in_is_the_clients_fault_and_frees_its_connection() {
    let app = spawn(|c| {
        c.body_read_timeout = std::time::Duration::from_millis(400);
    })
    .await;
    let head = |id: &str| {
        format!(
            "POST /oauth/token HTTP/1.1\r\nHost: rota\r\nX-Request-Id: {id}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 4000\r\n\r\n"
        )
    };
    let start = b"grant_type=client_credentials&client_id=";
    for (id, trickle) in [("short-body", false), ("trickled-body", true)] {
        let answer = answer_to_a_short_body(&app, &head(id), start, trickle).await;
        let (status_line, rest) = answer.split_once("\r\n").unwrap();
        assert!(status_line.ends_with("408 Request Timeout"), "{answer}");
        let lower = rest.to_ascii_lowercase();
        assert!(lower.contains("connection: close"), "{answer}");
        assert!(lower.contains("application/problem+json"), "{answer}");
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let problem: rota_api::problem::Problem = serde_json::from_str(body).unwrap();
        assert_eq!(problem.code, ErrorCode::RequestTimeout, "{answer}");
        assert_eq!(problem.request_id, id);
    }
    // A body that arrives whole is served as ever.
    app.admin
        .business_units(&rota_api::paging::Paging::default())
        .await
        .unwrap();
}
