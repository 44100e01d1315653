//! What a batch is given: the YAML configuration (the user's keys as they wrote them) and the
//! CSV or JSON input, every row checked before anything is sent.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use rota_api::swaps::SwapItemBody;
use rota_client::batch::BatchItem;
use serde::Deserialize;

/// The batch configuration. It takes the user's keys as they wrote them (`batch_size`,
/// `retry_delay_ms`, `region`); an unknown key is an error that names it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default = "default_retry_delay_ms")]
    pub retry_delay_ms: u64,
    pub region: Option<String>,
    pub base_url: Option<String>,
    /// Region name → base URL, for configs that name a region.
    #[serde(default)]
    pub regions: BTreeMap<String, String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub schedule_id: String,
    /// Chunks in flight at once (default 1). Chunks touch different swaps; a conflict between
    /// them is a real one and handled like any other.
    pub concurrency: Option<usize>,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// `partial` (the default for batches) is the only mode a batch runs in: every swap gets
    /// its own outcome.
    pub mode: Option<String>,
    pub conflict_scope: Option<String>,
    pub effective_date: Option<String>,
    /// Seed of the retry jitter, for reproducible runs.
    pub jitter_seed: Option<u64>,
    /// How long a request waits out an outage (no connection, 503) before its swaps are
    /// reported failed (default 300 s); waiting spends no attempts and no retry budget.
    #[serde(default = "default_outage_limit_secs")]
    pub outage_limit_secs: u64,
}

fn default_batch_size() -> usize {
    50
}
fn default_retry_delay_ms() -> u64 {
    200
}
fn default_max_attempts() -> u32 {
    8
}
fn default_outage_limit_secs() -> u64 {
    300
}

impl BatchConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: Self =
            yaml_serde::from_str(&text).with_context(|| format!("{}", path.display()))?;
        if config.mode.as_deref().is_some_and(|m| m != "partial") {
            bail!(
                "{}: mode must be `partial` for a batch (each swap gets its own outcome)",
                path.display()
            );
        }
        if config
            .conflict_scope
            .as_deref()
            .is_some_and(|s| s != "shifts")
        {
            bail!(
                "{}: conflict_scope must be `shifts` for a batch",
                path.display()
            );
        }
        if config.batch_size == 0 {
            bail!("{}: batch_size must be at least 1", path.display());
        }
        Ok(config)
    }

    pub fn base_url(&self) -> Result<String> {
        if let Some(url) = &self.base_url {
            return Ok(url.clone());
        }
        match &self.region {
            Some(region) => self.regions.get(region).cloned().with_context(|| {
                format!("region `{region}` has no base URL: add `base_url` or `regions: {{{region}: https://…}}`")
            }),
            None => bail!("the config needs `base_url` (or `region` with `regions`)"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputRow {
    agent_id: String,
    original_shift_id: String,
    new_shift_id: String,
    reason_code: String,
    #[serde(default)]
    counterpart_agent_id: Option<String>,
}

/// Reads and checks every row before anything is sent; errors name the line.
pub fn read_input(path: &Path) -> Result<Vec<BatchItem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows: Vec<(usize, InputRow)> = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => serde_json::from_str::<Vec<InputRow>>(&text)
            .with_context(|| format!("{}", path.display()))?
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect(),
        Some("jsonl") | Some("ndjson") => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map(|r| (i + 1, r))
                    .with_context(|| format!("{}: line {}", path.display(), i + 1))
            })
            .collect::<Result<_>>()?,
        _ => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let mut rows = Vec::new();
            for (i, row) in reader.deserialize::<InputRow>().enumerate() {
                // Line 1 is the header.
                rows.push((
                    i + 2,
                    row.with_context(|| format!("{}: line {}", path.display(), i + 2))?,
                ));
            }
            rows
        }
    };
    let mut items = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (index, (line, row)) in rows.into_iter().enumerate() {
        let counterpart = row.counterpart_agent_id.filter(|c| !c.is_empty());
        let mut check = |field: &str, value: &str| {
            if uuid_ok(value).is_err() {
                errors.push(format!("line {line}: {field} `{value}` is not a UUID"));
            }
        };
        check("agent_id", &row.agent_id);
        check("original_shift_id", &row.original_shift_id);
        check("new_shift_id", &row.new_shift_id);
        if let Some(c) = &counterpart {
            check("counterpart_agent_id", c);
        }
        if !["personal", "coverage", "preference", "supervisor", "other"]
            .contains(&row.reason_code.as_str())
        {
            errors.push(format!("line {line}: reason_code `{}` is not one of personal, coverage, preference, supervisor, other", row.reason_code));
        }
        items.push(BatchItem {
            index,
            swap: SwapItemBody {
                agent_id: row.agent_id,
                original_shift_id: row.original_shift_id,
                new_shift_id: row.new_shift_id,
                reason_code: row.reason_code,
                counterpart_agent_id: counterpart,
            },
        });
    }
    if !errors.is_empty() {
        bail!(
            "{}: {} bad row(s), nothing was sent:\n  {}",
            path.display(),
            errors.len(),
            errors.join("\n  ")
        );
    }
    Ok(items)
}

fn uuid_ok(s: &str) -> Result<(), ()> {
    s.parse::<rota_core::ids::ShiftId>()
        .map(|_| ())
        .map_err(|_| ())
}
