//! A weekly batch's swaps as the user keeps them: CSV with a header
//! (`agent_id,original_shift_id,new_shift_id,reason_code[,counterpart_agent_id]`), a JSON array
//! or JSON Lines of the same fields. Every row is checked before anything is sent, and each
//! error names its line; `rota batch` and the portal's upload read files through this.

use rota_api::swaps::SwapItemBody;
use serde::Deserialize;

use crate::batch::BatchItem;

/// How the swaps are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv,
    Json,
    JsonLines,
}

impl InputFormat {
    /// By a file's extension: `.json`, `.jsonl` or `.ndjson`; anything else is CSV.
    pub fn of_name(name: &str) -> Self {
        match name
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
        {
            Some(ext) if ext == "json" => Self::Json,
            Some(ext) if ext == "jsonl" || ext == "ndjson" => Self::JsonLines,
            _ => Self::Csv,
        }
    }
}

/// The rows that could not be read, each with its line; nothing of the input is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} bad row(s), nothing was sent:\n  {}", .0.len(), .0.join("\n  "))]
pub struct InputError(pub Vec<String>);

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

const REASONS: [&str; 5] = ["personal", "coverage", "preference", "supervisor", "other"];

/// Reads and checks every row of `text`; errors name the line.
pub fn parse(text: &str, format: InputFormat) -> Result<Vec<BatchItem>, InputError> {
    let rows: Vec<(usize, InputRow)> = match format {
        InputFormat::Json => serde_json::from_str::<Vec<InputRow>>(text)
            .map_err(|e| InputError(vec![e.to_string()]))?
            .into_iter()
            .enumerate()
            .map(|(i, r)| (i + 1, r))
            .collect(),
        InputFormat::JsonLines => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .map(|r| (i + 1, r))
                    .map_err(|e| InputError(vec![format!("line {}: {e}", i + 1)]))
            })
            .collect::<Result<_, _>>()?,
        InputFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let mut rows = Vec::new();
            for (i, row) in reader.deserialize::<InputRow>().enumerate() {
                // Line 1 is the header.
                rows.push((
                    i + 2,
                    row.map_err(|e| InputError(vec![format!("line {}: {e}", i + 2)]))?,
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
            if value.parse::<uuid::Uuid>().is_err() {
                errors.push(format!("line {line}: {field} `{value}` is not a UUID"));
            }
        };
        check("agent_id", &row.agent_id);
        check("original_shift_id", &row.original_shift_id);
        check("new_shift_id", &row.new_shift_id);
        if let Some(c) = &counterpart {
            check("counterpart_agent_id", c);
        }
        if !REASONS.contains(&row.reason_code.as_str()) {
            errors.push(format!(
                "line {line}: reason_code `{}` is not one of {}",
                row.reason_code,
                REASONS.join(", ")
            ));
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
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(InputError(errors))
    }
}
