//! How things read on a page: times in the business unit's zone, shifts, outcomes, and the
//! parts every page shares (navigation, errors, the stale-form page).

use askama::Template;
use jiff::Timestamp;
use rota_core::auth::Role;
use rota_core::command::{ItemOutcome, Violation};
use rota_core::directory::Zone;

use super::Visitor;

/// A link of the navigation.
pub struct NavLink {
    pub href: String,
    pub label: &'static str,
}

/// What every page has around its content.
pub struct Chrome {
    pub title: String,
    pub nav: Vec<NavLink>,
    /// The signed-in person's name, with the sign-out form's token; none on public pages.
    pub user: Option<(String, String)>,
    /// Unique to this rendering, so that a script (or a browser test) can tell that a new page
    /// has arrived after a form was sent.
    pub page: String,
}

impl Chrome {
    pub fn anonymous(title: String) -> Self {
        Self {
            title,
            nav: Vec::new(),
            user: None,
            page: form_key(),
        }
    }

    pub fn signed_in(title: String, visitor: &Visitor) -> Self {
        let user = visitor.user();
        let link = |href: String, label| NavLink { href, label };
        let nav = match (user.role, user.business_unit) {
            (Role::Agent, _) => vec![
                link("/portal/me".into(), "My week"),
                link("/portal/me/trades".into(), "Trades"),
                link("/portal/me/time-off".into(), "Time off"),
                link("/portal/me/availability".into(), "Availability"),
            ],
            (_, Some(bu)) => vec![
                link(format!("/portal/units/{bu}/week"), "Week"),
                link(format!("/portal/units/{bu}/trades"), "Trade queue"),
                link(format!("/portal/units/{bu}/time-off"), "Time off"),
                link(format!("/portal/units/{bu}/batches"), "Batches"),
                link(format!("/portal/units/{bu}/history"), "History"),
                link(format!("/portal/units/{bu}/webhooks"), "Webhooks"),
            ],
            _ => vec![link("/portal/units".into(), "Business units")],
        };
        Self {
            title,
            nav,
            user: Some((
                user.display_name.clone(),
                visitor.session.csrf_token.clone(),
            )),
            page: form_key(),
        }
    }
}

#[derive(Template)]
#[template(path = "portal/error.html")]
pub struct ErrorPage {
    pub chrome: Chrome,
    pub title: String,
    pub detail: String,
    pub request_id: String,
}

/// One version that changed what a stale form was about.
pub struct StaleChange {
    pub version: u64,
    pub who: String,
    pub cause: String,
    pub at: String,
    pub request_id: String,
}

#[derive(Template)]
#[template(path = "portal/stale.html")]
pub struct StalePage {
    pub chrome: Chrome,
    /// What the form was about, as the person would say it.
    pub subject: String,
    pub changes: Vec<StaleChange>,
    /// How it stands now.
    pub now: String,
    pub back: String,
    pub request_id: String,
}

/// `t` in `zone`: "Mon 30 Nov 08:00".
pub fn when(t: Timestamp, zone: &Zone) -> String {
    t.to_zoned_datetime(zone.tz().clone())
        .strftime("%a %-d %b %H:%M")
        .to_string()
}

/// A window in `zone`: "Mon 30 Nov 08:00–12:00", with the end's day when it differs.
pub fn window(start: Timestamp, end: Timestamp, zone: &Zone) -> String {
    let (s, e) = (
        start.to_zoned_datetime(zone.tz().clone()),
        end.to_zoned_datetime(zone.tz().clone()),
    );
    if s.date() == e.date() {
        format!("{}–{}", when(start, zone), e.strftime("%H:%M"))
    } else {
        format!("{} – {}", when(start, zone), when(end, zone))
    }
}

/// The clock times alone: "08:00–12:00" (with "+1" when it ends the next day).
pub fn times(start: Timestamp, end: Timestamp, zone: &Zone) -> String {
    let (s, e) = (
        start.to_zoned_datetime(zone.tz().clone()),
        end.to_zoned_datetime(zone.tz().clone()),
    );
    let next = if s.date() == e.date() { "" } else { " +1" };
    format!("{}–{}{next}", s.strftime("%H:%M"), e.strftime("%H:%M"))
}

/// A rule violation as a sentence.
pub fn violation(v: &Violation) -> String {
    format!("{} ({})", v.detail, v.code.as_str())
}

/// What happened to a self-service change, for the person who asked.
pub fn outcome(o: &ItemOutcome) -> Result<&'static str, Vec<String>> {
    match o {
        ItemOutcome::Applied { .. } => Ok("done"),
        ItemOutcome::Held { .. } => Ok("held"),
        ItemOutcome::Rejected { violations } => Err(violations.iter().map(violation).collect()),
        ItemOutcome::Conflict { .. } => Err(vec!["the shift changed meanwhile".into()]),
        ItemOutcome::Skipped => Err(vec!["not applied".into()]),
    }
}

/// A path inside the portal to return to after signing in; anything else goes home.
pub fn safe_next(next: &str) -> &str {
    // Visible ASCII only: a control character (a CR/LF) cannot go into the Location header.
    if next.starts_with("/portal")
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic())
    {
        next
    } else {
        "/portal"
    }
}

pub fn encode_query(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A fresh idempotency key for a form about to be rendered.
pub fn form_key() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chicago() -> Zone {
        Zone::parse("America/Chicago").unwrap()
    }

    #[test]
    fn times_read_in_the_units_zone_on_daylight_saving_days() {
        let zone = chicago();
        // 2026-11-01: clocks fall back at 02:00; 00:00 to 06:00 local lasts seven hours.
        let start: Timestamp = "2026-11-01T05:00:00Z".parse().unwrap();
        let end: Timestamp = "2026-11-01T12:00:00Z".parse().unwrap();
        assert_eq!(times(start, end, &zone), "00:00–06:00");
        assert_eq!(window(start, end, &zone), "Sun 1 Nov 00:00–06:00");
        // 2026-03-08: clocks spring forward; 22:00 to 06:00 the next day.
        let start: Timestamp = "2026-03-08T04:00:00Z".parse().unwrap();
        let end: Timestamp = "2026-03-08T11:00:00Z".parse().unwrap();
        assert_eq!(times(start, end, &zone), "22:00–06:00 +1");
        assert_eq!(
            window(start, end, &zone),
            "Sat 7 Mar 22:00 – Sun 8 Mar 06:00"
        );
    }

    #[test]
    fn only_portal_paths_are_followed_after_signing_in() {
        assert_eq!(
            safe_next("/portal/me?week=2026-11-30"),
            "/portal/me?week=2026-11-30"
        );
        for hostile in [
            "https://evil.example/",
            "//evil.example/portal",
            "/api/v2/users",
            "/portal\\evil",
            "/portal\r\nSet-Cookie: a=b",
            "/portal/me\u{7f}",
            "/portal/me é",
        ] {
            assert_eq!(safe_next(hostile), "/portal", "{hostile}");
        }
    }
}
