//! Staffing requirements, coverage, and the changes the coverage guard held for a supervisor.

use jiff::Timestamp;
use rota_core::coverage::{CoverageShortfall, INTERVAL_MINUTES, RequirementRun, Slot};
use rota_core::directory::Skill;
use rota_core::ids::ScheduleId;
use rota_core::store::CoverageReport;
use serde::{Deserialize, Serialize};

/// `PUT /schedules/{scheduleId}/requirements`: the runs to set; intervals they do not name
/// keep their requirement. A whole week is one run of every interval per skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequirementsBody {
    #[schema(min_items = 1)]
    pub requirements: Vec<RequirementRun>,
}

/// Which part of a schedule's coverage to read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// One skill only.
    #[param(value_type = Option<rota_core::directory::Skill>)]
    pub skill: Option<String>,
    /// Intervals that end after this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    /// Intervals that start before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<Timestamp>,
    /// The coverage as of this version of the schedule (its id from the history).
    #[param(value_type = Option<rota_core::version::ScheduleVersionId>)]
    pub version_id: Option<String>,
}

/// One interval of one skill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalCoverage {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// Agents required on queue.
    pub required: u32,
    /// On-queue agent-minutes scheduled (an agent on queue the whole interval counts 15).
    pub scheduled_minutes: i64,
    /// `scheduledMinutes` in agents: 1.0 is one agent the whole interval.
    pub scheduled: f64,
    /// `scheduled - required`: negative when the interval is short.
    pub gap: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkillCoverage {
    pub skill: Skill,
    pub intervals: Vec<IntervalCoverage>,
}

/// `GET /schedules/{scheduleId}/coverage`: per skill, every interval of the range asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CoverageBody {
    pub schedule_id: ScheduleId,
    /// The version the coverage is of.
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    pub interval_minutes: i64,
    pub skills: Vec<SkillCoverage>,
}

impl CoverageBody {
    /// The report's intervals overlapping `[from, to)`, of `skill` or of every skill with a
    /// requirement or on-queue time.
    pub fn new(
        report: &CoverageReport,
        skill: Option<&Skill>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Self {
        let grid = &report.grid;
        let mut skills: Vec<&Skill> = match skill {
            Some(s) => vec![s],
            None => report.cells.keys().map(|(s, _)| s).collect(),
        };
        skills.dedup();
        let slots: Vec<Slot> = (0..grid.slots())
            .filter(|slot| {
                from.is_none_or(|f| grid.slot_start(slot + 1) > f)
                    && to.is_none_or(|t| grid.slot_start(*slot) < t)
            })
            .collect();
        Self {
            schedule_id: report.schedule.id,
            schedule_version_id: report.schedule.version_id().to_string(),
            interval_minutes: INTERVAL_MINUTES,
            skills: skills
                .into_iter()
                .map(|skill| SkillCoverage {
                    skill: skill.clone(),
                    intervals: slots
                        .iter()
                        .map(|slot| {
                            let cell = report
                                .cells
                                .get(&(skill.clone(), *slot))
                                .copied()
                                .unwrap_or_default();
                            let scheduled = cell.scheduled_minutes as f64 / INTERVAL_MINUTES as f64;
                            IntervalCoverage {
                                start: grid.slot_start(*slot),
                                end: grid.slot_start(slot + 1),
                                required: cell.required,
                                scheduled_minutes: cell.scheduled_minutes,
                                scheduled,
                                gap: scheduled - f64::from(cell.required),
                            }
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The intervals of every skill below their requirement.
    pub fn short(&self) -> Vec<CoverageShortfall> {
        self.skills
            .iter()
            .filter_map(|s| {
                let intervals: Vec<_> = s
                    .intervals
                    .iter()
                    .filter(|i| i.gap < 0.0)
                    .map(|i| rota_core::coverage::ShortInterval {
                        start: i.start,
                        end: i.end,
                        required: i.required,
                        scheduled_minutes_before: i.scheduled_minutes,
                        scheduled_minutes_after: i.scheduled_minutes,
                    })
                    .collect();
                (!intervals.is_empty()).then(|| CoverageShortfall {
                    skill: s.skill.clone(),
                    intervals,
                })
            })
            .collect()
    }
}

/// Which held changes to list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HeldQuery {
    pub state: Option<rota_core::held::HeldState>,
    #[serde(default, deserialize_with = "crate::paging::offset")]
    pub offset: u64,
    #[serde(
        default = "crate::paging::default_limit",
        deserialize_with = "crate::paging::limit"
    )]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u32,
}

/// A supervisor's decision on a held change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HeldDecisionBody {
    /// The held change's version as the caller read it (409 if it moved since).
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    #[serde(deserialize_with = "crate::paging::version")]
    pub expected_version: u32,
    pub approve: bool,
    pub reason: Option<String>,
}
