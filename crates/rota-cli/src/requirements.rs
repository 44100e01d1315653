//! `rota requirements import`: a staffing requirement from a forecast's CSV, set through the
//! API as one version of the schedule.
//!
//! The CSV has a header and one row per skill and interval: `skill,start,required`, `start` an
//! RFC 3339 instant on a 15-minute boundary of the schedule's week. Rows may come in any order;
//! consecutive intervals of a skill become one run, and intervals the file leaves out keep the
//! requirement they have. The idempotency key is the file's digest, so running the same file
//! again (after a lost answer, say) changes nothing twice.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use jiff::{SignedDuration, Timestamp};
use rota_api::coverage::RequirementsBody;
use rota_client::{CallOptions, Client};
use rota_core::coverage::{INTERVAL_MINUTES, RequirementRun};
use rota_core::directory::Skill;
use rota_core::ids::ScheduleId;
use sha2::{Digest, Sha256};

#[derive(serde::Deserialize)]
struct Row {
    skill: String,
    start: String,
    required: String,
}

/// The runs a CSV describes: per skill, its intervals sorted, consecutive ones joined.
pub fn parse(text: &str) -> Result<Vec<RequirementRun>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().context("reading the CSV header")?.clone();
    for wanted in ["skill", "start", "required"] {
        if !headers.iter().any(|h| h == wanted) {
            bail!("the CSV header must name skill, start and required; `{wanted}` is missing");
        }
    }
    let mut by_skill: BTreeMap<Skill, BTreeMap<Timestamp, u32>> = BTreeMap::new();
    for (i, row) in reader.deserialize::<Row>().enumerate() {
        let line = i + 2;
        let row = row.with_context(|| format!("line {line}"))?;
        let skill = Skill::parse(&row.skill).with_context(|| format!("line {line}: skill"))?;
        let start: Timestamp = row.start.parse().with_context(|| {
            format!(
                "line {line}: start `{}` is not an RFC 3339 instant",
                row.start
            )
        })?;
        let required: u32 = row.required.parse().with_context(|| {
            format!(
                "line {line}: required `{}` is not a whole number of agents",
                row.required
            )
        })?;
        if by_skill
            .entry(skill.clone())
            .or_default()
            .insert(start, required)
            .is_some()
        {
            bail!("line {line}: skill `{skill}` at {start} is given twice");
        }
    }
    if by_skill.is_empty() {
        bail!("the CSV has no rows");
    }
    let step = SignedDuration::from_mins(INTERVAL_MINUTES);
    let mut runs = Vec::new();
    for (skill, intervals) in by_skill {
        let mut run: Option<RequirementRun> = None;
        for (start, required) in intervals {
            match &mut run {
                Some(r)
                    if r.start
                        .checked_add(step * i32::try_from(r.required.len())?)?
                        == start =>
                {
                    r.required.push(required);
                }
                _ => {
                    runs.extend(run.take());
                    run = Some(RequirementRun {
                        skill: skill.clone(),
                        start,
                        required: vec![required],
                    });
                }
            }
        }
        runs.extend(run);
    }
    Ok(runs)
}

/// Sets the requirement `input` describes on `schedule` through the API at `base_url`.
pub async fn import(
    base_url: &str,
    client_id: &str,
    secret: &str,
    schedule: ScheduleId,
    input: &Path,
) -> Result<()> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let runs = parse(&text)?;
    let intervals: usize = runs.iter().map(|r| r.required.len()).sum();
    let anonymous = Client::new(base_url);
    let token = anonymous
        .token(client_id, secret)
        .await
        .map_err(|e| anyhow::anyhow!("signing in as {client_id} failed: {e}"))?;
    let client = anonymous.with_bearer(&token.access_token);
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let key = format!("requirements-{schedule}-{digest}");
    let options = CallOptions::default().header("Idempotency-Key", &key);
    let reply = client
        .set_requirements(schedule, &RequirementsBody { requirements: runs }, &options)
        .await
        .map_err(|e| anyhow::anyhow!("setting the requirement failed: {e}"))?;
    let schedule = reply
        .into_body()
        .map_err(|e| anyhow::anyhow!("reading the answer failed: {e}"))?;
    println!(
        "{}",
        serde_json::json!({
            "scheduleId": schedule.id,
            "scheduleVersionId": schedule.version_id().to_string(),
            "intervals": intervals,
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_any_order_become_runs_of_consecutive_intervals() {
        let csv = "skill,start,required\n\
                   sales,2026-11-30T06:30:00Z,3\n\
                   sales,2026-11-30T06:00:00Z,1\n\
                   sales,2026-11-30T06:15:00Z,2\n\
                   chat,2026-11-30T06:00:00Z,4\n\
                   sales,2026-11-30T08:00:00Z,5\n";
        let runs = parse(csv).unwrap();
        let summary: Vec<(&str, String, Vec<u32>)> = runs
            .iter()
            .map(|r| (r.skill.as_str(), r.start.to_string(), r.required.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("chat", "2026-11-30T06:00:00Z".into(), vec![4]),
                ("sales", "2026-11-30T06:00:00Z".into(), vec![1, 2, 3]),
                ("sales", "2026-11-30T08:00:00Z".into(), vec![5]),
            ]
        );
    }

    #[test]
    fn a_bad_row_is_named_by_its_line() {
        for (csv, wanted) in [
            (
                "skill,start\nsales,2026-11-30T06:00:00Z\n",
                "`required` is missing",
            ),
            ("skill,start,required\nsales,monday,1\n", "line 2"),
            (
                "skill,start,required\nsales,2026-11-30T06:00:00Z,-1\n",
                "line 2",
            ),
            (
                "skill,start,required\nsales,2026-11-30T06:00:00Z,1\nsales,2026-11-30T06:00:00Z,2\n",
                "line 3",
            ),
            ("skill,start,required\n", "no rows"),
        ] {
            let e = format!("{:#}", parse(csv).unwrap_err());
            assert!(e.contains(wanted), "{e}");
        }
    }

    #[tokio::test]
    async fn an_imported_file_is_one_version_and_importing_it_again_changes_nothing() {
        use rota_core::store::{CoverageStore, ScheduleStore};
        use rota_core::testkit::World;
        let dir = std::env::temp_dir().join(format!("rota-cli-req-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}", dir.join("req.db").display());
        let store = rota_store::Store::connect(&url).await.unwrap();
        let world = World::staffed(2, 4, rota_core::trade::RuleAction::Allow);
        world.load(&store).await.unwrap();
        let supervisor = rota_app::tokens::create_client(
            &store,
            rota_core::auth::Role::Supervisor,
            Some(world.bu.id),
            None,
        )
        .await
        .unwrap();
        let (addr, _stop) = crate::testing::serve(&store, world.now).await;

        let start = world.schedule.shifts[0].window.start();
        let mut csv = String::from("skill,start,required\n");
        for (i, n) in [2, 3, 0, 1].into_iter().enumerate() {
            let at = start
                .checked_add(SignedDuration::from_mins(15 * i as i64))
                .unwrap();
            csv.push_str(&format!("sales,{at},{n}\n"));
        }
        let input = dir.join("req.csv");
        std::fs::write(&input, &csv).unwrap();
        let base = format!("http://{addr}");
        let id = world.schedule.id;
        let (client, secret) = (&supervisor.client_id, &supervisor.client_secret);
        import(&base, client, secret, id, &input).await.unwrap();
        let version = store.schedule(id).await.unwrap().version;
        import(&base, client, secret, id, &input).await.unwrap();
        assert_eq!(store.schedule(id).await.unwrap().version, version);
        let cells = store.coverage(id, None).await.unwrap().cells;
        let sales = rota_core::testkit::sales();
        let required: Vec<u32> = (0..4)
            .map(|slot| cells.get(&(sales.clone(), slot)).map_or(0, |c| c.required))
            .collect();
        assert_eq!(required, vec![2, 3, 0, 1]);
    }
}
