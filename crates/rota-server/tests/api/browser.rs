//! The portal in a real browser (Debian's chromium through chromedriver), used the way people
//! use it: an agent picks up an open shift and offers a trade, a second agent takes it, a
//! supervisor approves it in the queue and sees the new owner in the grid; a form from a stale
//! page shows what changed; an agent cannot reach a supervisor's pages; a forged form is
//! refused; axe-core finds no serious accessibility violation on any page. Screenshots go to
//! `ROTA_SCREENSHOTS` (default `target/screenshots`).
//!
//! Needs `/usr/bin/chromedriver` (or `ROTA_CHROMEDRIVER`) and axe-core's `axe.min.js`
//! (`ROTA_AXE_JS`, default `target/ci-node/node_modules/axe-core/axe.min.js`); without them
//! the test says it skipped, unless `ROTA_REQUIRE_BROWSER=1`, when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};
use rota_core::auth::Role;
use serde_json::json;

use crate::common::spawn;

const WEEK: &str = "2026-11-30";
const PASSWORD: &str = "a long enough password";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the browser test needs, or why it cannot run here.
fn parts() -> Result<(PathBuf, String), String> {
    let driver = std::env::var("ROTA_CHROMEDRIVER")
        .map_or_else(|_| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    if !driver.exists() {
        return Err(format!("no chromedriver at {}", driver.display()));
    }
    let axe = std::env::var("ROTA_AXE_JS").map_or_else(
        |_| workspace().join("target/ci-node/node_modules/axe-core/axe.min.js"),
        PathBuf::from,
    );
    let axe = std::fs::read_to_string(&axe)
        .map_err(|e| format!("no axe-core at {}: {e}", axe.display()))?;
    Ok((driver, axe))
}

/// chromedriver, stopped with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser(driver: &Path, profile: &Path) -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // chromedriver says when it listens; its output is drained after that, so that it never
    // blocks on a full pipe.
    let stdout = child.stdout.take().unwrap();
    let (ready, listening) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut ready = Some(ready);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains("started successfully")
                && let Some(ready) = ready.take()
            {
                let _ = ready.send(());
            }
        }
    });
    let driver = Driver(child);
    listening
        .await
        .expect("chromedriver exited before it listened");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("ROTA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    (driver, c)
}

struct Person<'a> {
    c: &'a Client,
    base: String,
    axe: &'a str,
    shots: PathBuf,
}

impl Person<'_> {
    async fn go(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    /// The rendering id of the page shown now.
    async fn page(&self) -> String {
        self.c
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .attr("data-page")
            .await
            .unwrap()
            .unwrap_or_default()
    }

    /// Clicks a button that sends a form, and waits for the page that answers it.
    async fn click(&self, css: &str) {
        let before = self.page().await;
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap();
        self.arrived(&before).await;
    }

    async fn arrived(&self, before: &str) {
        self.c
            .wait()
            .every(std::time::Duration::from_millis(20))
            .for_element(Locator::Css(&format!("main:not([data-page='{before}'])")))
            .await
            .unwrap();
    }

    async fn fill(&self, id: &str, text: &str) {
        self.c
            .find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn fill_css(&self, css: &str, text: &str) {
        self.c
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    async fn text(&self) -> String {
        self.c
            .find(Locator::Css("main"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn path(&self) -> String {
        self.c.current_url().await.unwrap().path().to_owned()
    }

    /// A one-time link, then the password the person chooses.
    async fn sign_in_by_link(&self, link: &str) {
        self.go(link).await;
        self.click("main form button").await;
        assert_eq!(self.path().await, "/portal/password");
        self.check_accessibility("choose a password").await;
        self.fill("password", PASSWORD).await;
        self.fill("repeat", PASSWORD).await;
        self.click("main form button").await;
    }

    async fn sign_out(&self) {
        self.click("form.signout button").await;
        assert_eq!(self.path().await, "/portal/sign-in");
    }

    /// axe-core's serious and critical violations on the current page: none allowed.
    async fn check_accessibility(&self, page: &str) {
        self.c.execute(self.axe, Vec::new()).await.unwrap();
        let found = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ': ' + v.help + ' at ' +
                       v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                Vec::new(),
            )
            .await
            .unwrap();
        let found: Vec<String> = serde_json::from_value(found).unwrap();
        assert!(found.is_empty(), "{page}: {found:#?}");
    }

    async fn screenshot(&self, name: &str) {
        std::fs::create_dir_all(&self.shots).unwrap();
        let png = self.c.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Desktop and a 360 px phone.
    async fn screenshots(&self, name: &str) {
        self.screenshot(name).await;
        self.c.set_window_size(360, 780).await.unwrap();
        self.screenshot(&format!("{name}-360")).await;
        self.c.set_window_size(1280, 900).await.unwrap();
    }
}

#[tokio::test]
async fn agents_trade_and_a_supervisor_approves_in_a_real_browser() {
    let (driver, axe) = match parts() {
        Ok(p) => p,
        Err(why) if std::env::var("ROTA_REQUIRE_BROWSER").as_deref() == Ok("1") => {
            panic!("ROTA_REQUIRE_BROWSER=1 but {why}")
        }
        Err(why) => {
            eprintln!("SKIPPED: the browser test needs chromium, chromedriver and axe-core: {why}");
            return;
        }
    };
    let app = spawn(|_| {}).await;
    // Matched trades wait for a supervisor.
    app.set_settings(|s| s.trades.auto_review = false).await;
    let ana_link = app.portal_user("ana", Role::Agent, Some(0)).await;
    let ben_link = app.portal_user("ben", Role::Agent, Some(1)).await;
    let sam_link = app.portal_user("sam", Role::Supervisor, None).await;
    let bu = app.world.bu.id;
    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = browser(&driver, profile.path()).await;
    let shots = std::env::var("ROTA_SCREENSHOTS")
        .map_or_else(|_| workspace().join("target/screenshots"), PathBuf::from);
    let person = Person {
        c: &c,
        base: app.base.clone(),
        axe: &axe,
        shots,
    };

    // Ana: signs in, picks up an open shift, offers one of hers for a shift that day.
    person.go("/portal/sign-in").await;
    person.check_accessibility("sign in").await;
    person.sign_in_by_link(&ana_link).await;
    assert_eq!(person.path().await, "/portal/me");
    person.go(&format!("/portal/me?week={WEEK}")).await;
    person.check_accessibility("my week").await;
    let open = app.shift(4);
    person
        .click(&format!(
            "button[formaction='/portal/me/shifts/{open}/pickup']"
        ))
        .await;
    assert!(person.text().await.contains("You picked up the shift."));
    assert_eq!(app.owner(4).await, Some(app.world.agents[0].id));
    person.screenshots("agent-week").await;
    let offered = app.shift(0);
    person
        .click(&format!(
            "form[action='/portal/me/trades']:has(input[value='{offered}']) button"
        ))
        .await;
    assert!(person.text().await.contains("Your trade is offered."));

    // While Ana's page shows shift 10 as hers, the weekly batch swaps it away.
    let base = app.version_id().await;
    let swapped = app.swap(&base, 0, 10, 11).await.unwrap();
    assert!(swapped.body.unwrap().results[0].outcome.is_applied());
    let stale = app.shift(10);
    person
        .click(&format!(
            "form[action='/portal/me/shifts/{stale}/release'] button"
        ))
        .await;
    let text = person.text().await;
    assert!(text.contains("Someone changed this first"), "{text}");
    assert!(text.contains("swap by the bulk batch"), "{text}");
    assert!(text.contains("Nothing was changed by your form"), "{text}");
    assert_eq!(app.owner(10).await, Some(app.world.agents[1].id));
    person.check_accessibility("stale form").await;
    person.screenshot("stale-form").await;

    // Her availability: a mistake stays in the form with its reason.
    person.go("/portal/me/availability").await;
    person.check_accessibility("availability").await;
    person
        .c
        .find(Locator::Id("monday"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    person.fill("monday", "18:00-08:00").await;
    person.click("form.availability button").await;
    let text = person.text().await;
    assert!(
        text.contains("empty or inverted") && text.contains("Not saved:"),
        "{text}"
    );
    person
        .check_accessibility("availability with a mistake")
        .await;
    person.screenshot("agent-availability").await;

    // A day off on Tuesday: no balance yet, so a supervisor decides.
    person.go("/portal/me/time-off").await;
    person.check_accessibility("time off").await;
    person
        .c
        .execute(
            "document.getElementById('first').value = arguments[0];",
            vec![json!("2026-12-01")],
        )
        .await
        .unwrap();
    person
        .click("form[action='/portal/me/time-off'] button[type='submit']")
        .await;
    let text = person.text().await;
    assert!(text.contains("Sent: a supervisor decides."), "{text}");
    assert!(text.contains("INSUFFICIENT_BALANCE"), "{text}");
    person.screenshots("agent-time-off").await;

    // Not hers to see.
    person.go(&format!("/portal/units/{bu}/week")).await;
    assert!(person.text().await.contains("Not allowed"));
    // A form forged in the page without its token changes nothing.
    person.go(&format!("/portal/me?week={WEEK}")).await;
    let before = person.page().await;
    let other_open = app.shift(9);
    let version = app.store_shift(9).await.version.get();
    person
        .c
        .execute(
            "const f = document.createElement('form');
             f.method = 'post'; f.action = arguments[0];
             const v = document.createElement('input'); v.name = 'version'; v.value = arguments[1];
             const w = document.createElement('input'); w.name = 'week'; w.value = arguments[2];
             f.append(v, w); document.body.append(f); f.submit();",
            vec![
                json!(format!("/portal/me/shifts/{other_open}/pickup")),
                json!(version.to_string()),
                json!(WEEK),
            ],
        )
        .await
        .unwrap();
    person.arrived(&before).await;
    let refused = person.text().await;
    assert!(refused.contains("This form was refused"), "{refused}");
    assert_eq!(app.owner(9).await, None);
    // Error pages keep the signed-in person's navigation.
    person.sign_out().await;

    // Ben: takes Ana's offer, giving one of his shifts of that day.
    person.sign_in_by_link(&ben_link).await;
    person.go("/portal/me/trades").await;
    person.check_accessibility("trades").await;
    assert!(person.text().await.contains("Agent 0 offers"));
    person.screenshots("agent-trades").await;
    // The rule check first, as things stand; then the match, which checks again.
    person.click("button[formaction$='/check']").await;
    let text = person.text().await;
    assert!(
        text.contains("Taking it would wait for a supervisor's review."),
        "{text}"
    );
    assert!(text.contains("The rule check finds nothing."), "{text}");
    person.check_accessibility("trade check").await;
    person.click("form[action$='/match'] button").await;
    assert!(person.text().await.contains("You took the trade"));
    person.sign_out().await;

    // Sam: approves it in the queue and sees the new owner in the grid.
    person.sign_in_by_link(&sam_link).await;
    assert_eq!(person.path().await, format!("/portal/units/{bu}/week"));
    person.go(&format!("/portal/units/{bu}/trades")).await;
    person.check_accessibility("trade queue").await;
    assert!(person.text().await.contains("Agent 0 gives"));
    person.screenshots("trade-queue").await;
    person.click("button[name='one'][value^='approve']").await;
    assert!(
        person
            .text()
            .await
            .contains("approved: the shifts changed hands")
    );
    assert_eq!(app.owner(0).await, Some(app.world.agents[1].id));
    person
        .go(&format!("/portal/units/{bu}/week?week={WEEK}"))
        .await;
    person.check_accessibility("week grid").await;
    let ben_row = person
        .c
        .find(Locator::XPath("//tr[th[contains(., 'Agent 1')]]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ben_row.contains("00:00–01:00"), "{ben_row}");
    person.screenshots("supervisor-grid").await;

    // The day off, approved over the missing balance, with the reason recorded.
    person.go(&format!("/portal/units/{bu}/time-off")).await;
    person.check_accessibility("time-off queue").await;
    person.screenshot("time-off-queue").await;
    person
        .fill_css(
            "form.decide input[name='reason']",
            "balance arrives in January",
        )
        .await;
    person.click("form.decide button[value='override']").await;
    assert!(person.text().await.contains("The request is approved."));
    let tuesday = app.store_shift(15).await;
    assert_ne!(
        tuesday.owner,
        Some(app.world.agents[0].id),
        "her Tuesday shift left her"
    );

    // The weekly batch from a file: two swaps between Agent 2 and Agent 3, run by the same
    // runner as `rota batch`, followed live, its report downloaded.
    let id = |k: usize| app.shift(k).to_string();
    let (a2, a3) = (
        app.world.agents[2].id.to_string(),
        app.world.agents[3].id.to_string(),
    );
    let csv = format!(
        "agent_id,original_shift_id,new_shift_id,reason_code,counterpart_agent_id\n\
         {a2},{},{},personal,{a3}\n{a2},{},{},preference,{a3}\n",
        id(2),
        id(3),
        id(7),
        id(8)
    );
    let file = profile.path().join("swaps.csv");
    std::fs::write(&file, csv).unwrap();
    person.go(&format!("/portal/units/{bu}/batches")).await;
    person.check_accessibility("batches").await;
    person
        .c
        .execute(
            "document.getElementById('week').value = arguments[0];",
            vec![json!(WEEK)],
        )
        .await
        .unwrap();
    person.fill("file", &file.display().to_string()).await;
    person
        .click("form[enctype='multipart/form-data'] button")
        .await;
    // htmx refreshes the status every second until the batch has finished.
    person
        .c
        .wait()
        .every(std::time::Duration::from_millis(50))
        .for_element(Locator::XPath(
            "//section[@id='status' and contains(., 'Finished')]",
        ))
        .await
        .unwrap();
    let text = person.text().await;
    assert!(
        text.contains("Finished: 2 of 2 swaps") && text.contains("applied: 2"),
        "{text}"
    );
    person.check_accessibility("batch progress").await;
    person.screenshot("batch-progress").await;
    let report = person
        .c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(document.querySelector('a[download]').href).then(r => r.text()).then(done);",
            Vec::new(),
        )
        .await
        .unwrap();
    let report = report.as_str().unwrap().to_owned();
    assert_eq!(report.lines().count(), 2, "{report}");
    assert!(
        report.lines().all(|l| l.contains("\"status\":\"applied\"")),
        "{report}"
    );
    assert_eq!(app.owner(3).await, Some(app.world.agents[2].id));
    assert_eq!(app.owner(8).await, Some(app.world.agents[2].id));

    person
        .go(&format!("/portal/units/{bu}/history?week={WEEK}"))
        .await;
    person.check_accessibility("history").await;
    assert!(person.text().await.contains("user:sam"));
    person.click("table.list a").await;
    person.check_accessibility("version diff").await;
    assert!(person.text().await.contains("Shifts before and after"));
    person.go(&format!("/portal/units/{bu}/webhooks")).await;
    person.check_accessibility("webhooks").await;
    person.sign_out().await;
    c.close().await.unwrap();
}
