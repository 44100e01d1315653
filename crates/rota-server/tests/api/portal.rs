//! The portal over plain HTTP, as a browser without JavaScript would use it: sessions and
//! their cookie, the CSRF check, who may see which page, the security headers, the lockout.
//! The same flows in a real browser are in `browser.rs`.

use rota_core::auth::Role;
use rota_core::store::{ScheduleStore, UserStore};

use crate::common::{TestApp, spawn};

/// A browser without JavaScript: one cookie, no redirects followed.
pub struct Page {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookie: None,
        }
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        if let Some(set) = response.headers().get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        let response = request.send().await.unwrap();
        self.answer(response).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = serde_html_form::to_string(form).unwrap();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(c) = &self.cookie {
            request = request.header("cookie", c);
        }
        let response = request.send().await.unwrap();
        self.answer(response).await
    }

    pub async fn post_owned(&mut self, path: &str, form: &[(&str, String)]) -> Answer {
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post(path, &pairs).await
    }

    /// Uses a one-time link; the browser then holds a session.
    pub async fn sign_in_by_link(&mut self, link: &str) -> Answer {
        let token = link.rsplit('/').next().unwrap().to_owned();
        self.post("/portal/link", &[("token", &token)]).await
    }
}

/// The value of the hidden field `name` on a page.
pub fn field(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}"))
        + marker.len();
    body[at..].split('"').next().unwrap().to_owned()
}

const WEEK: &str = "2026-11-30";

#[tokio::test]
async fn a_link_signs_in_once_and_the_session_cookie_is_locked_down() {
    let app = spawn(|_| {}).await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut page = Page::new(&app);
    assert_eq!(
        page.get("/portal/me").await.location.as_deref(),
        Some("/portal/sign-in?next=%2Fportal%2Fme")
    );
    let first = page.sign_in_by_link(&link).await;
    assert_eq!(first.status, 303);
    // No password yet: the person chooses one first.
    assert_eq!(first.location.as_deref(), Some("/portal/password"));
    let cookie = first.headers.get("set-cookie").unwrap().to_str().unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/portal"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    // Loopback: the test talks plain HTTP to 127.0.0.1.
    assert!(!cookie.contains("Secure"));
    let week = page.get(&format!("/portal/me?week={WEEK}")).await;
    assert_eq!(week.status, 200);
    assert!(week.body.contains("My week of 2026-11-30"));
    let csp = week
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
    assert_eq!(week.headers.get("x-frame-options").unwrap(), "DENY");
    assert_eq!(week.headers.get("cache-control").unwrap(), "no-store");

    let mut other = Page::new(&app);
    let again = other.sign_in_by_link(&link).await;
    assert_eq!(again.status, 410, "a link works once");
    assert!(again.body.contains("no longer works"));
}

#[tokio::test]
async fn a_forged_form_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn(|_| {}).await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&link).await;
    let open = app.shift(4);
    let path = format!("/portal/me/shifts/{open}/pickup");
    let version = app.store_shift(4).await.version.get().to_string();
    let forged = page
        .post(&path, &[("version", &version), ("week", WEEK)])
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("security token"));
    let wrong = page
        .post(
            &path,
            &[("csrf", "guess"), ("version", &version), ("week", WEEK)],
        )
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(app.owner(4).await, None, "nothing changed");

    // The same form from the page itself goes through, as a pickup by the agent.
    let week = page.get(&format!("/portal/me?week={WEEK}")).await;
    let csrf = field(&week.body, "csrf");
    let done = page
        .post(
            &path,
            &[("csrf", &csrf), ("version", &version), ("week", WEEK)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(app.owner(4).await, Some(app.world.agents[0].id));
    let history = app
        .store
        .versions(
            app.world.schedule.id,
            rota_core::store::PageRequest::new(0, 1),
        )
        .await
        .unwrap();
    assert_eq!(history.items[0].actor, "user:ana");
}

#[tokio::test]
async fn agents_reach_neither_supervisor_pages_nor_another_unit() {
    let app = spawn(|_| {}).await;
    let ana = app.portal_user("ana", Role::Agent, Some(0)).await;
    let sam = app.portal_user("sam", Role::Supervisor, None).await;
    let bu = app.world.bu.id;
    let mut agent = Page::new(&app);
    agent.sign_in_by_link(&ana).await;
    for path in [
        format!("/portal/units/{bu}/week"),
        format!("/portal/units/{bu}/trades"),
        format!("/portal/units/{bu}/history"),
    ] {
        let answer = agent.get(&path).await;
        assert_eq!(answer.status, 403, "{path}");
        assert!(answer.body.contains("Not allowed"));
    }
    let mut supervisor = Page::new(&app);
    supervisor.sign_in_by_link(&sam).await;
    let elsewhere = rota_core::ids::BusinessUnitId::new();
    assert_eq!(
        supervisor
            .get(&format!("/portal/units/{elsewhere}/week"))
            .await
            .status,
        404
    );
    let grid = supervisor
        .get(&format!("/portal/units/{bu}/week?week={WEEK}"))
        .await;
    assert_eq!(grid.status, 200);
    assert!(grid.body.contains("Agent 3"));
    // A supervisor is not an agent: the agent pages are not theirs.
    assert_eq!(supervisor.get("/portal/me").await.status, 403);
}

#[tokio::test]
async fn repeated_wrong_passwords_lock_for_a_while_and_a_link_still_signs_in() {
    let app = spawn(|c| {
        c.tokens_per_address_minute = 10_000;
    })
    .await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&link).await;
    let form = page.get("/portal/password").await;
    let csrf = field(&form.body, "csrf");
    let set = page
        .post(
            "/portal/password",
            &[
                ("csrf", &csrf),
                ("password", "correct horse battery"),
                ("repeat", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(set.status, 303, "{}", set.body);

    let mut stranger = Page::new(&app);
    let wrong = [("username", "ana"), ("password", "wrong password!")];
    for _ in 0..rota_core::auth::Lockout::FREE_FAILURES {
        assert_eq!(stranger.post("/portal/sign-in", &wrong).await.status, 401);
    }
    let right = [("username", "ana"), ("password", "correct horse battery")];
    let locked = stranger.post("/portal/sign-in", &right).await;
    assert_eq!(locked.status, 429, "the right password waits out the lock");
    assert!(locked.body.contains("sign-in link"));
    // Bounded: the lock runs out by itself.
    app.clock.set(
        app.world
            .now
            .checked_add(rota_core::auth::Lockout::LONGEST)
            .unwrap(),
    );
    let after = stranger.post("/portal/sign-in", &right).await;
    assert_eq!(after.status, 303, "{}", after.body);
    let user = app.store.user_by_name("ana").await.unwrap().unwrap();
    assert_eq!(
        app.store.sign_in_failures(user.id).await.unwrap().failures,
        0
    );
}

/// A session left open is not enough to change a password: the current one is asked for.
#[tokio::test]
async fn changing_a_password_asks_for_the_current_one() {
    let app = spawn(|_| {}).await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&link).await;
    let first = page.get("/portal/password").await;
    assert!(
        !first.body.contains("name=\"current\""),
        "a first password needs no current one"
    );
    let csrf = field(&first.body, "csrf");
    let chosen = [
        ("csrf", csrf.as_str()),
        ("password", "correct horse battery"),
        ("repeat", "correct horse battery"),
    ];
    assert_eq!(page.post("/portal/password", &chosen).await.status, 303);
    let form = page.get("/portal/password").await;
    assert!(form.body.contains("name=\"current\""), "{}", form.body);
    let csrf = field(&form.body, "csrf");
    let change = |current: &'static str| {
        [
            ("csrf", csrf.clone()),
            ("current", current.to_owned()),
            ("password", "a new horse battery".to_owned()),
            ("repeat", "a new horse battery".to_owned()),
        ]
    };
    let wrong = page
        .post_owned("/portal/password", &change("not the password"))
        .await;
    assert_eq!(wrong.status, 422);
    assert!(
        wrong.body.contains("current password is wrong"),
        "{}",
        wrong.body
    );
    let mut stranger = Page::new(&app);
    let new = [("username", "ana"), ("password", "a new horse battery")];
    assert_eq!(
        stranger.post("/portal/sign-in", &new).await.status,
        401,
        "unchanged"
    );
    assert_eq!(
        page.post_owned("/portal/password", &change("correct horse battery"))
            .await
            .status,
        303
    );
    assert_eq!(stranger.post("/portal/sign-in", &new).await.status, 303);
}

#[tokio::test]
async fn availability_mistakes_come_back_in_the_form_and_overlaps_are_merged() {
    use rota_core::store::DirectoryStore;
    let app = spawn(|_| {}).await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&link).await;
    let form = page.get("/portal/me/availability").await;
    assert_eq!(form.status, 200);
    let csrf = field(&form.body, "csrf");
    let before = app
        .store
        .agent(app.world.agents[0].id)
        .await
        .unwrap()
        .availability;

    let inverted = page
        .post(
            "/portal/me/availability",
            &[
                ("csrf", &csrf),
                ("monday", "17:00-09:00"),
                ("exceptions", ""),
            ],
        )
        .await;
    assert_eq!(inverted.status, 422);
    assert!(
        inverted.body.contains("17:00–09:00 is empty or inverted"),
        "{}",
        inverted.body
    );
    assert!(
        inverted.body.contains("value=\"17:00-09:00\""),
        "what was typed stays"
    );
    let unreadable = page
        .post(
            "/portal/me/availability",
            &[("csrf", &csrf), ("exceptions", "Christmas: off")],
        )
        .await;
    assert_eq!(unreadable.status, 422);
    assert!(unreadable.body.contains("is not a date"));
    assert_eq!(
        app.store
            .agent(app.world.agents[0].id)
            .await
            .unwrap()
            .availability,
        before,
        "nothing was saved"
    );

    let saved = page
        .post(
            "/portal/me/availability",
            &[
                ("csrf", &csrf),
                ("monday", "08:00-12:00, 11:00-14:00"),
                ("tuesday", "09:00-17:00"),
                ("exceptions", "2026-12-24: 08:00-12:00\n2026-12-25: off"),
            ],
        )
        .await;
    assert_eq!(
        saved.location.as_deref(),
        Some("/portal/me/availability?saved=merged")
    );
    let shown = page.get("/portal/me/availability?saved=merged").await;
    assert!(shown.body.contains("were merged"));
    assert!(
        shown.body.contains("value=\"08:00-14:00\""),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("2026-12-25: off"));
    assert!(
        shown.body.contains("value=\"\""),
        "no windows on the other days"
    );
}

#[tokio::test]
async fn time_off_goes_from_the_agents_form_to_a_supervisors_decision_and_back() {
    let app = spawn(|_| {}).await;
    let ana = app.portal_user("ana", Role::Agent, Some(0)).await;
    let sam = app.portal_user("sam", Role::Supervisor, None).await;
    let bu = app.world.bu.id;
    let mut agent = Page::new(&app);
    agent.sign_in_by_link(&ana).await;
    let form = agent.get("/portal/me/time-off").await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains("vacation (paid, 48 h notice)"));
    let csrf = field(&form.body, "csrf");
    let ask = |first: &str, last: &str| {
        let form = [
            ("csrf", csrf.as_str()),
            ("code", "vacation"),
            ("kind", "days"),
            ("first", first),
            ("last", last),
        ];
        form.map(|(k, v)| (k, v.to_owned()))
    };
    let refused = agent
        .post_owned("/portal/me/time-off", &ask("2026-12-01", "2026-11-30"))
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body.contains("the last day comes before the first"),
        "{}",
        refused.body
    );

    let sent = agent
        .post_owned("/portal/me/time-off", &ask("2026-11-30", ""))
        .await;
    // No balance recorded: the supervisor decides, with the rule that failed shown.
    assert_eq!(
        sent.location.as_deref(),
        Some("/portal/me/time-off?done=pending")
    );
    let mine = agent.get("/portal/me/time-off?done=pending").await;
    assert!(mine.body.contains("INSUFFICIENT_BALANCE"), "{}", mine.body);

    let mut supervisor = Page::new(&app);
    supervisor.sign_in_by_link(&sam).await;
    let queue = supervisor
        .get(&format!("/portal/units/{bu}/time-off"))
        .await;
    assert_eq!(queue.status, 200);
    assert!(queue.body.contains("Agent 0") && queue.body.contains("INSUFFICIENT_BALANCE"));
    let scsrf = field(&queue.body, "csrf");
    let version = field(&queue.body, "version");
    let at = queue.body.find("/time-off/").unwrap();
    let action: String = queue.body[at..].split('"').next().unwrap().to_owned();
    let path = format!("/portal/units/{bu}{action}");
    let plain = supervisor
        .post(
            &path,
            &[
                ("csrf", &scsrf),
                ("version", &version),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(plain.status, 422, "failed rules need an override");
    assert!(
        plain.body.contains("INSUFFICIENT_BALANCE"),
        "{}",
        plain.body
    );
    let silent = supervisor
        .post(
            &path,
            &[
                ("csrf", &scsrf),
                ("version", &version),
                ("decision", "override"),
            ],
        )
        .await;
    assert_eq!(silent.status, 422);
    assert!(silent.body.contains("A reason is needed"));
    let approved = supervisor
        .post(
            &path,
            &[
                ("csrf", &scsrf),
                ("version", &version),
                ("decision", "override"),
                ("reason", "family event, balance comes in January"),
            ],
        )
        .await;
    assert_eq!(
        approved.location.as_deref(),
        Some(format!("/portal/units/{bu}/time-off?done=approved").as_str())
    );
    // The day is off: Ana's Monday shifts left her.
    assert_ne!(app.owner(0).await, Some(app.world.agents[0].id));

    let mine = agent.get("/portal/me/time-off").await;
    assert!(mine.body.contains("approved"));
    assert!(
        mine.body.contains("overriding INSUFFICIENT_BALANCE"),
        "{}",
        mine.body
    );
    let version = field(&mine.body, "version");
    let at = mine.body.find("/portal/me/time-off/").unwrap();
    let cancel: String = mine.body[at..].split('"').next().unwrap().to_owned();
    let done = agent
        .post(&cancel, &[("csrf", &csrf), ("version", &version)])
        .await;
    assert_eq!(
        done.location.as_deref(),
        Some("/portal/me/time-off?done=cancelled")
    );
}

#[tokio::test]
async fn a_supervisor_reads_a_webhooks_log_and_turns_it_off_and_on() {
    use rota_core::store::WebhookStore;
    let app = spawn(|c| c.webhooks.dispatch = false).await;
    let bu = app.world.bu.id;
    let created = app
        .admin
        .create_webhook(
            bu,
            &rota_api::webhooks::NewSubscriptionBody {
                url: "http://127.0.0.1:9/hook".into(),
                events: rota_core::webhook::EventType::ALL.to_vec(),
                secret: None,
            },
        )
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let id = created.subscription.id;
    // An event to deliver: a pickup through the portal.
    let ana = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut agent = Page::new(&app);
    agent.sign_in_by_link(&ana).await;
    let week = agent.get(&format!("/portal/me?week={WEEK}")).await;
    let version = app.store_shift(4).await.version.get().to_string();
    let picked = agent
        .post(
            &format!("/portal/me/shifts/{}/pickup", app.shift(4)),
            &[
                ("csrf", &field(&week.body, "csrf")),
                ("version", &version),
                ("week", WEEK),
            ],
        )
        .await;
    assert_eq!(picked.status, 303);

    let sam = app.portal_user("sam", Role::Supervisor, None).await;
    let mut supervisor = Page::new(&app);
    supervisor.sign_in_by_link(&sam).await;
    let list = supervisor
        .get(&format!("/portal/units/{bu}/webhooks"))
        .await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("http://127.0.0.1:9/hook") && list.body.contains("delivering"));
    let log = supervisor
        .get(&format!("/portal/units/{bu}/webhooks/{id}"))
        .await;
    // The pickup's version, waiting for a dispatcher that is not running.
    assert!(
        log.body.contains("<td>schedule.version.created</td>"),
        "{}",
        log.body
    );
    assert!(log.body.contains("<td>pending</td>"), "{}", log.body);
    let csrf = field(&log.body, "csrf");
    let off = supervisor
        .post(
            &format!("/portal/units/{bu}/webhooks/{id}/enabled"),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(off.status, 303);
    assert!(!app.store.subscription(id).await.unwrap().enabled);
    let on = supervisor
        .post(
            &format!("/portal/units/{bu}/webhooks/{id}/enabled"),
            &[("csrf", &csrf), ("enabled", "true")],
        )
        .await;
    assert_eq!(on.status, 303);
    assert!(app.store.subscription(id).await.unwrap().enabled);

    // Agents do not configure webhooks.
    assert_eq!(
        agent
            .get(&format!("/portal/units/{bu}/webhooks"))
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn the_grid_shows_where_each_skill_is_short_of_its_requirement() {
    let world = rota_core::testkit::World::staffed(4, 20, rota_core::trade::RuleAction::Allow);
    let app = crate::common::spawn_world(world, true, |_| {}).await;
    app.admin
        .set_requirements(
            app.world.schedule.id,
            &rota_api::coverage::RequirementsBody {
                requirements: app.world.requirements.clone(),
            },
            &rota_client::CallOptions::default(),
        )
        .await
        .unwrap();
    let sam = app.portal_user("sam", Role::Supervisor, None).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&sam).await;
    let grid = page
        .get(&format!(
            "/portal/units/{}/week?week={WEEK}",
            app.world.bu.id
        ))
        .await;
    assert_eq!(grid.status, 200);
    let strip = &grid.body[grid.body.find("table class=\"grid coverage\"").unwrap()..];
    let row = |skill: &str| {
        let at = strip
            .find(&format!("<th scope=\"row\">{skill}</th>"))
            .unwrap();
        strip[at..strip[at..].find("</tr>").unwrap() + at].to_owned()
    };
    // Monday: sales is short only in the open shifts' three intervals (08:00 and 18:00);
    // spanish in the first interval of every shift its speakers do not work.
    let sales = row("sales");
    assert!(
        sales.contains("<td class=\"short\">short in 6 × 15 min; worst −1 at 08:00</td>"),
        "{sales}"
    );
    let spanish = row("spanish");
    assert!(
        spanish.contains("<td class=\"short\">short in 7 × 15 min; worst −1 at 02:00</td>"),
        "{spanish}"
    );
    // Wednesday has no requirement.
    assert_eq!(sales.matches("no requirement").count(), 5, "{sales}");
}

#[tokio::test]
async fn admins_create_users_and_supervisors_send_their_agents_sign_in_links() {
    use rota_api::problem::ErrorCode;
    use rota_api::users::NewUserBody;
    let app = spawn(|_| {}).await;
    let bu = app.world.bu.id;
    let agent_body = NewUserBody {
        username: "Ana".into(),
        display_name: Some("Ana López".into()),
        role: Role::Agent,
        business_unit_id: None,
        agent_id: Some(app.world.agents[0].id),
    };
    let created = app
        .admin
        .create_user(&agent_body)
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(created.user.username, "ana");
    assert_eq!(
        created.user.business_unit_id,
        Some(bu),
        "from the agent record"
    );
    assert!(!created.user.has_password);
    let mut page = Page::new(&app);
    let signed_in = page.sign_in_by_link(&created.sign_in_link.path).await;
    assert_eq!(signed_in.location.as_deref(), Some("/portal/password"));

    let again = app.admin.create_user(&agent_body).await.unwrap_err();
    assert_eq!(again.problem().unwrap().code, ErrorCode::AlreadyExists);
    let bad = app
        .admin
        .create_user(&NewUserBody {
            username: "a b".into(),
            ..agent_body.clone()
        })
        .await
        .unwrap_err();
    let problem = bad.problem().unwrap();
    assert_eq!(problem.status, 400);
    assert_eq!(problem.errors[0].field, "username");
    let supervisor = app.client(Role::Supervisor, None).await;
    let refused = supervisor
        .create_user(&NewUserBody {
            username: "bob".into(),
            ..agent_body.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.problem().unwrap().status, 403);

    // A supervisor of the unit sends Ana a new link; an agent client cannot.
    let link = supervisor
        .sign_in_link(created.user.id)
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert!(link.path.starts_with("/portal/link/"));
    assert_ne!(link.path, created.sign_in_link.path);
    assert_eq!(
        Page::new(&app).sign_in_by_link(&link.path).await.status,
        303
    );
    let agent = app.agent(1).await;
    assert_eq!(
        agent
            .sign_in_link(created.user.id)
            .await
            .unwrap_err()
            .problem()
            .unwrap()
            .status,
        403
    );
    let dallas = rota_core::testkit::business_unit("Dallas");
    rota_core::store::DirectoryStore::create_business_unit(&app.store, &dallas)
        .await
        .unwrap();
    let elsewhere = app.client_in(Role::Supervisor, Some(dallas.id), None).await;
    assert_eq!(
        elsewhere
            .sign_in_link(created.user.id)
            .await
            .unwrap_err()
            .problem()
            .unwrap()
            .status,
        404
    );
}

#[tokio::test]
async fn an_uploaded_batch_with_bad_rows_names_each_and_starts_nothing() {
    use rota_store::batch_runs::BatchRunStore;
    let app = spawn(|_| {}).await;
    let bu = app.world.bu.id;
    let sam = app.portal_user("sam", Role::Supervisor, None).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&sam).await;
    let form = page.get(&format!("/portal/units/{bu}/batches")).await;
    assert_eq!(form.status, 200);
    let csrf = field(&form.body, "csrf");
    let upload = |csrf: &str, week: &str, csv: &str| {
        let boundary = "rota-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"week\"\r\n\r\n{week}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"swaps.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--{boundary}--\r\n"
        );
        (format!("multipart/form-data; boundary={boundary}"), body)
    };
    let send = |(content_type, body): (String, String)| {
        let cookie = page.cookie.clone().unwrap();
        let url = format!("{}/portal/units/{bu}/batches", app.base);
        async move {
            let r = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(url)
                .header("cookie", cookie)
                .header("content-type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let header = "agent_id,original_shift_id,new_shift_id,reason_code";
    let bad = format!(
        "{header}\nnope,{},{},personal\n{},{},{},holiday\n",
        app.shift(2),
        app.shift(3),
        app.world.agents[2].id,
        app.shift(7),
        app.shift(8)
    );
    let (status, body) = send(upload(&csrf, WEEK, &bad)).await;
    assert_eq!(status, 422);
    assert!(
        body.contains("line 2: agent_id `nope` is not a UUID"),
        "{body}"
    );
    assert!(body.contains("line 3: reason_code `holiday`"), "{body}");
    let (status, body) = send(upload(&csrf, "2031-01-06", &format!("{header}\n"))).await;
    assert_eq!(status, 422);
    assert!(
        body.contains("no schedule for the week of `2031-01-06`"),
        "{body}"
    );
    assert!(body.contains("the file holds no swaps"), "{body}");
    let (status, body) = send(upload("forged", WEEK, &bad)).await;
    assert_eq!(status, 403, "{body}");
    let runs = app
        .store
        .batch_runs(bu, rota_core::store::PageRequest::new(0, 10))
        .await
        .unwrap();
    assert_eq!(runs.total, 0, "nothing was started");
}

#[tokio::test]
async fn a_form_sent_twice_applies_once() {
    let app = spawn(|_| {}).await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let mut page = Page::new(&app);
    page.sign_in_by_link(&link).await;
    let week = page.get(&format!("/portal/me?week={WEEK}")).await;
    let (csrf, key) = (
        field(&week.body, "csrf"),
        field(&week.body, "idempotency_key"),
    );
    let version = app.store_shift(4).await.version.get().to_string();
    let path = format!("/portal/me/shifts/{}/pickup", app.shift(4));
    let form = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("version", version.as_str()),
        ("week", WEEK),
    ];
    let before = app.version_id().await;
    let first = page.post(&path, &form).await;
    let after_first = app.version_id().await;
    // A double click, or a reload after a lost answer: the same answer, nothing applied again.
    let second = page.post(&path, &form).await;
    assert_eq!((first.status, second.status), (303, 303));
    assert_eq!(first.location, second.location);
    assert_ne!(before, after_first);
    assert_eq!(app.version_id().await, after_first);
}

#[tokio::test]
async fn forms_from_another_site_are_refused_even_sign_in() {
    let app = spawn(|_| {}).await;
    let link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let token = link.rsplit('/').next().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (path, body) in [
        ("/portal/link", format!("token={token}")),
        (
            "/portal/sign-in",
            "username=ana&password=whatever-it-is".to_owned(),
        ),
    ] {
        let answer = http
            .post(format!("{}{path}", app.base))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{path}");
        assert!(answer.headers().get("set-cookie").is_none());
    }
    // The link was not used up by the refused attempt.
    assert_eq!(Page::new(&app).sign_in_by_link(&link).await.status, 303);
}
