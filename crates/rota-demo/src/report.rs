//! What a demo prints: the table of runs, the 409 share with its 95% interval, what was checked
//! against each run's history, and a conclusion drawn from the figures.

use std::time::Duration;

use crate::strategies::{Strategy, Tally};

#[derive(Debug, Clone)]
pub struct RunReport {
    pub strategy: Strategy,
    pub tally: Tally,
    pub wall: Duration,
    /// Versions the portal committed while the batch ran.
    pub portal_commits: u64,
    /// What the portal did besides (time off asked for and decided).
    pub portal: crate::portal::PortalTally,
    pub replay_matches: bool,
    /// The coverage kept by the commits equals a fresh count, now and as of the requirement.
    pub coverage_matches: bool,
    /// Intervals below their requirement at the end of the run.
    pub short_intervals: usize,
    /// Swaps that some version applied more than once.
    pub applied_twice: usize,
    /// Swaps reported stale whose shifts the portal did not in fact change.
    pub stale_but_valid: usize,
    /// Swaps reported applied that the history does not show applied.
    pub applied_but_missing: usize,
}

/// `part` as a percentage of `whole` (0 when there is no whole).
pub fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// The 95% interval of a run's 409 share, in percent.
///
/// The 409s are not independent draws: a conflicted request of the user's script is answered
/// 409 on each of its attempts. What is drawn is whether each request's first attempt met a
/// portal commit, so the interval is Wilson's score interval of that proportion, carried over
/// to the share through what each conflicted request added in this run (409s and extra
/// requests; the script's attempts when none conflicted).
pub fn share_interval(t: &Tally, attempts: u32) -> (f64, f64) {
    let n = t.first_attempts as f64;
    if n == 0.0 {
        return (0.0, 0.0);
    }
    let k = t.conflicted_requests as f64;
    let (per_conflict, extra) = if t.conflicted_requests == 0 {
        (f64::from(attempts), f64::from(attempts) - 1.0)
    } else {
        (t.conflicts as f64 / k, (t.requests as f64 - n).max(0.0) / k)
    };
    let to_share = |p: f64| 100.0 * per_conflict * p / (1.0 + extra * p);
    let (low, high) = wilson(k, n);
    (to_share(low), to_share(high))
}

/// Wilson's 95% score interval of `k` successes in `n` trials.
fn wilson(k: f64, n: f64) -> (f64, f64) {
    const Z: f64 = 1.96;
    let p = k / n;
    let z2 = Z * Z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

pub fn write_table(out: &mut impl std::io::Write, reports: &[RunReport]) -> std::io::Result<()> {
    writeln!(
        out,
        "| strategy | requests | conflicted | 409s (share, 95% interval) | retries | applied | stale | rejected | failed | wall time | portal versions | replay = schedule | applied twice |"
    )?;
    writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
    )?;
    for r in reports {
        let t = &r.tally;
        let (low, high) = share_interval(t, r.strategy.attempts());
        writeln!(
            out,
            "| {} | {} | {} of {} | {} ({:.1}%, {:.1}–{:.1}%) | {} | {} | {} | {} | {} | {:.2} s | {} | {} | {} |",
            r.strategy.label(),
            t.requests,
            t.conflicted_requests,
            t.first_attempts,
            t.conflicts,
            share(t.conflicts, t.requests),
            low,
            high,
            t.retries,
            t.applied,
            t.stale,
            t.rejected,
            t.failed,
            r.wall.as_secs_f64(),
            r.portal_commits,
            if r.replay_matches { "yes" } else { "NO" },
            r.applied_twice
        )?;
    }
    Ok(())
}

/// What was verified against each run's stored history.
pub fn checks(reports: &[RunReport]) -> String {
    let yes = |ok: bool| if ok { "yes" } else { "NO" };
    let replay = reports.iter().all(|r| r.replay_matches);
    let once = reports.iter().all(|r| r.applied_twice == 0);
    let rota = reports.iter().filter(|r| r.strategy == Strategy::Rota);
    let exact = rota
        .clone()
        .all(|r| r.applied_but_missing == 0 && r.tally.failed == 0);
    let stale = rota.clone().all(|r| r.stale_but_valid == 0);
    let coverage = reports.iter().all(|r| r.coverage_matches);
    let short: Vec<String> = reports
        .iter()
        .map(|r| r.short_intervals.to_string())
        .collect();
    format!(
        "Checked against each run's history: final schedule = replay of its versions: {}; no swap applied twice: {}; \
         rota's way applied every swap it reports applied exactly once and failed none: {}; every swap it reports \
         stale had a shift changed by the portal: {}; coverage kept by the commits = coverage counted afresh from \
         the shifts, now and as of the requirement's version: {}. Intervals below the seeded requirement at the end \
         of each run: {}.",
        yes(replay),
        yes(once),
        yes(exact),
        yes(stale),
        yes(coverage),
        short.join(", ")
    )
}

/// Why a whole-request strategy lost swaps, in the terms of what happened in its run.
fn causes(t: &Tally) -> String {
    let mut causes = Vec::new();
    if t.failed_on_conflict > 0 {
        causes.push(format!("{} to 409s", t.failed_on_conflict));
    }
    if t.rejected > 0 {
        causes.push(format!(
            "{} to atomic requests refused because {} swap(s) in them broke a rule after a portal change",
            t.rejected + t.failed_with_rejected,
            t.rejected
        ));
    }
    let other = t.failed - t.failed_on_conflict - t.failed_with_rejected;
    if other > 0 {
        causes.push(format!("{other} to other errors"));
    }
    if causes.is_empty() {
        String::new()
    } else {
        format!(" ({})", causes.join(", "))
    }
}

fn lost(t: &Tally) -> u64 {
    t.failed + t.rejected
}

fn total(t: &Tally) -> u64 {
    t.applied + t.failed + t.rejected + t.stale
}

/// A few sentences drawn from the figures.
pub fn conclusion(reports: &[RunReport]) -> String {
    let by = |s: Strategy| reports.iter().find(|r| r.strategy == s);
    let (Some(user), Some(script), Some(advice), Some(rota)) = (
        by(Strategy::UsersSetup),
        by(Strategy::UsersScriptOnRota),
        by(Strategy::ReportAdvice),
        by(Strategy::Rota),
    ) else {
        return String::new();
    };
    let (low, high) = share_interval(&user.tally, Strategy::UsersSetup.attempts());
    let mut text = format!(
        "With the portal committing {} version(s) during the batch, the user's setup got 409 on {:.1}% of its requests \
         (95% interval {:.1}–{:.1}%: {} of its {} requests met a portal commit between reading the version and sending it) \
         and lost {} of {} swaps{}",
        user.portal_commits,
        share(user.tally.conflicts, user.tally.requests),
        low,
        high,
        user.tally.conflicted_requests,
        user.tally.first_attempts,
        lost(&user.tally),
        total(&user.tally),
        causes(&user.tally),
    );
    text.push_str(if user.tally.failed_on_conflict > 0 {
        ": sending the same payload again with a stale version can never succeed. "
    } else {
        ". "
    });
    text.push_str(&format!(
        "The same script, unchanged, against rota's defaults (a conflict only when a shift the request touches changed) \
         got 409 on {:.1}% of its requests ({} conflicted) and lost {} swaps{}: {} ",
        share(script.tally.conflicts, script.tally.requests),
        script.tally.conflicted_requests,
        lost(&script.tally),
        causes(&script.tally),
        if lost(&script.tally) == 0 {
            "the server's precision alone removed the problem in this run."
        } else {
            "what is left are real stale intents and rule refusals, which an atomic request sent again cannot get past."
        },
    ));
    text.push_str(&format!(
        "The report's advice (refresh, back off) got {} swaps through and lost {}{}, at the cost of {} retries and {:.2} s. ",
        advice.tally.applied,
        lost(&advice.tally),
        causes(&advice.tally),
        advice.tally.retries,
        advice.wall.as_secs_f64()
    ));
    text.push_str(&format!(
        "rota's way applied {} swaps, reported {} as stale because the portal had changed their shifts, failed {}, \
         retried {} of {} requests ({:.1}%) and took {:.2} s ({:.2}× the user's setup). \
         Meanwhile agents asked in the portal for {} day(s) off in the weeks ahead; a supervisor approved {} and denied {}.",
        rota.tally.applied,
        rota.tally.stale,
        rota.tally.failed,
        rota.tally.retries,
        rota.tally.requests,
        share(rota.tally.retries, rota.tally.requests),
        rota.wall.as_secs_f64(),
        rota.wall.as_secs_f64() / user.wall.as_secs_f64().max(1e-9),
        reports.iter().map(|r| r.portal.time_off_requested).sum::<u64>(),
        reports.iter().map(|r| r.portal.time_off_approved).sum::<u64>(),
        reports.iter().map(|r| r.portal.time_off_denied).sum::<u64>(),
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(first: u64, conflicted: u64) -> Tally {
        let a = u64::from(Strategy::UsersSetup.attempts());
        Tally {
            first_attempts: first,
            conflicted_requests: conflicted,
            requests: first + (a - 1) * conflicted,
            conflicts: a * conflicted,
            ..Tally::default()
        }
    }

    #[test]
    fn the_interval_holds_the_observed_share_and_narrows_with_more_requests() {
        let small = users(40, 2);
        let large = users(400, 20);
        for t in [&small, &large] {
            let (low, high) = share_interval(t, 4);
            let observed = share(t.conflicts, t.requests);
            assert!(low < observed && observed < high, "{low} {observed} {high}");
        }
        let width = |t: &Tally| {
            let (low, high) = share_interval(t, 4);
            high - low
        };
        assert!(width(&large) < width(&small) / 2.5);
    }

    #[test]
    fn no_conflict_still_gives_an_upper_bound() {
        let (low, high) = share_interval(&users(200, 0), 4);
        assert_eq!(low, 0.0);
        // Wilson's bound for 0 of 200 is 1.9%; four 409s per conflicted request make ~7%.
        assert!(high > 5.0 && high < 9.0, "{high}");
    }
}
