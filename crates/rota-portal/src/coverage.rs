//! The coverage strip under the supervisor's week grid: for each skill and day, whether the
//! scheduled agents on queue meet the staffing requirement in every 15-minute interval, and
//! where the day is shortest.

use jiff::civil::Date;
use rota_core::coverage::INTERVAL_MINUTES;
use rota_core::directory::Zone;
use rota_core::store::CoverageReport;

/// One skill's day.
pub struct DayCoverage {
    /// `short`, `covered` or `none` (no requirement that day): the cell's class.
    pub class: &'static str,
    pub text: String,
}

/// One skill's week.
pub struct StripRow {
    pub skill: String,
    pub days: Vec<DayCoverage>,
}

/// Per day of `days`: the intervals short, the worst shortfall in agents and when it starts.
#[derive(Default, Clone)]
struct Tally {
    required: bool,
    short: u32,
    worst: i64,
    worst_at: Option<jiff::Timestamp>,
}

pub fn strip(report: &CoverageReport, zone: &Zone, days: &[Date]) -> Vec<StripRow> {
    let mut rows: Vec<StripRow> = Vec::new();
    let mut current: Option<(String, Vec<Tally>)> = None;
    let finish = |(skill, tallies): (String, Vec<Tally>)| StripRow {
        skill,
        days: tallies
            .into_iter()
            .map(|t| match (t.required, t.short, t.worst_at) {
                (false, _, _) => DayCoverage {
                    class: "none",
                    text: "no requirement".into(),
                },
                (true, 0, _) | (true, _, None) => DayCoverage {
                    class: "covered",
                    text: "covered".into(),
                },
                (true, short, Some(at)) => DayCoverage {
                    class: "short",
                    text: format!(
                        "short in {short} × 15 min; worst −{} at {}",
                        t.worst,
                        at.to_zoned_datetime(zone.tz().clone()).strftime("%H:%M")
                    ),
                },
            })
            .collect(),
    };
    for ((skill, slot), cell) in &report.cells {
        let name = skill.as_str();
        if current.as_ref().is_none_or(|(s, _)| s != name) {
            if let Some(done) = current.take() {
                rows.push(finish(done));
            }
            current = Some((name.to_owned(), vec![Tally::default(); days.len()]));
        }
        let at = report.grid.slot_start(*slot);
        let date = zone.local_date(at);
        let (Some((_, tallies)), Some(day)) =
            (current.as_mut(), days.iter().position(|d| *d == date))
        else {
            continue;
        };
        let tally = &mut tallies[day];
        if cell.required == 0 {
            continue;
        }
        tally.required = true;
        let needed = i64::from(cell.required) * INTERVAL_MINUTES;
        if cell.scheduled_minutes < needed {
            tally.short += 1;
            // Agents short, rounded up: 20 agent-minutes missing of 15 is two agents.
            let agents =
                (needed - cell.scheduled_minutes + INTERVAL_MINUTES - 1) / INTERVAL_MINUTES;
            if agents > tally.worst {
                tally.worst = agents;
                tally.worst_at = Some(at);
            }
        }
    }
    if let Some(done) = current.take() {
        rows.push(finish(done));
    }
    rows
}
