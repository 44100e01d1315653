//! What a batch is given: the YAML configuration (the user's keys as they wrote them) and the
//! CSV or JSON input, every row checked before anything is sent.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
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

/// Reads and checks every row before anything is sent; errors name the file and the line.
pub fn read_input(path: &Path) -> Result<Vec<BatchItem>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let format = rota_client::batch_input::InputFormat::of_name(&path.to_string_lossy());
    rota_client::batch_input::parse(&text, format)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
