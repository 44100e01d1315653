//! `POST /api/v2/wfm/schedules/shift-swaps`: the body from the user's report, as written, plus
//! `mode`, `conflictScope` and per-item `counterpartAgentId`.

use jiff::civil::Date;
use rota_core::command::{ConflictScope, ItemOutcome, ReasonCode, SwapItem, SwapMode, SwapRequest};
use rota_core::version::ScheduleVersionId;
use serde::{Deserialize, Serialize};

use crate::problem::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
#[schema(example = json!({
    "scheduleVersionId": "AZKhNt5ycqKLNYPTwBjKmgAAAAAAAAAD",
    "shiftSwaps": [{
        "agentId": "0192a136-de72-72a2-8b35-83d3c018ca9a",
        "originalShiftId": "0192a136-de72-72a2-8b35-83d3c018cb01",
        "newShiftId": "0192a136-de72-72a2-8b35-83d3c018cb77",
        "reasonCode": "personal"
    }],
    "effectiveDate": "2026-11-30",
    "mode": "partial",
    "conflictScope": "shifts"
}))]
pub struct SwapRequestBody {
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    #[schema(min_items = 1)]
    pub shift_swaps: Vec<SwapItemBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Date)]
    pub effective_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SwapMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_scope: Option<ConflictScope>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct SwapItemBody {
    #[schema(format = Uuid)]
    pub agent_id: String,
    #[schema(format = Uuid)]
    pub original_shift_id: String,
    #[schema(format = Uuid)]
    pub new_shift_id: String,
    #[schema(value_type = rota_core::command::ReasonCode)]
    pub reason_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Uuid)]
    pub counterpart_agent_id: Option<String>,
}

impl From<&SwapItem> for SwapItemBody {
    fn from(item: &SwapItem) -> Self {
        Self {
            agent_id: item.agent_id.to_string(),
            original_shift_id: item.original_shift_id.to_string(),
            new_shift_id: item.new_shift_id.to_string(),
            reason_code: item.reason_code.as_str().to_owned(),
            counterpart_agent_id: item.counterpart_agent_id.map(|a| a.to_string()),
        }
    }
}

/// Why a swap request body does not convert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapBodyError {
    Fields(Vec<FieldError>),
    TooManyItems { max: usize, got: usize },
}

fn field<T, E: std::fmt::Display>(
    errors: &mut Vec<FieldError>,
    path: impl FnOnce() -> String,
    r: Result<T, E>,
) -> Option<T> {
    r.map_err(|e| {
        errors.push(FieldError {
            field: path(),
            message: e.to_string(),
        })
    })
    .ok()
}

fn reason(s: &str) -> Result<ReasonCode, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        format!("`{s}` is not a reason code (personal, coverage, preference, supervisor, other)")
    })
}

impl SwapRequestBody {
    /// Converts into the domain request, reporting every malformed field at once.
    pub fn into_request(self, max_items: usize) -> Result<SwapRequest, SwapBodyError> {
        if self.shift_swaps.len() > max_items {
            return Err(SwapBodyError::TooManyItems {
                max: max_items,
                got: self.shift_swaps.len(),
            });
        }
        let mut errors = Vec::new();
        if self.shift_swaps.is_empty() {
            errors.push(FieldError {
                field: "shiftSwaps".into(),
                message: "at least one swap is required".into(),
            });
        }
        let base = field(
            &mut errors,
            || "scheduleVersionId".into(),
            self.schedule_version_id.parse::<ScheduleVersionId>(),
        );
        let effective_date = self
            .effective_date
            .as_deref()
            .and_then(|d| field(&mut errors, || "effectiveDate".into(), d.parse::<Date>()));
        let mut items = Vec::with_capacity(self.shift_swaps.len());
        for (i, item) in self.shift_swaps.iter().enumerate() {
            let at = |name: &str| format!("shiftSwaps[{i}].{name}");
            let agent = field(&mut errors, || at("agentId"), item.agent_id.parse());
            let original = field(
                &mut errors,
                || at("originalShiftId"),
                item.original_shift_id.parse(),
            );
            let new = field(&mut errors, || at("newShiftId"), item.new_shift_id.parse());
            let reason_code = field(&mut errors, || at("reasonCode"), reason(&item.reason_code));
            let counterpart = match &item.counterpart_agent_id {
                Some(c) => field(&mut errors, || at("counterpartAgentId"), c.parse()).map(Some),
                None => Some(None),
            };
            if let (
                Some(agent_id),
                Some(original_shift_id),
                Some(new_shift_id),
                Some(reason_code),
                Some(counterpart_agent_id),
            ) = (agent, original, new, reason_code, counterpart)
            {
                items.push(SwapItem {
                    agent_id,
                    original_shift_id,
                    new_shift_id,
                    reason_code,
                    counterpart_agent_id,
                });
            }
        }
        match base {
            Some(base) if errors.is_empty() => Ok(SwapRequest {
                base,
                items,
                effective_date,
                mode: self.mode.unwrap_or_default(),
                scope: self.conflict_scope.unwrap_or_default(),
            }),
            _ => Err(SwapBodyError::Fields(errors)),
        }
    }
}

/// One item's result, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct ItemResult {
    pub index: usize,
    #[serde(flatten)]
    pub outcome: ItemOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct SwapResponseBody {
    /// The schedule's version after the request (the new one if anything applied).
    #[schema(value_type = rota_core::version::ScheduleVersionId)]
    pub schedule_version_id: String,
    /// The version this request created, if any item applied.
    pub committed_version: Option<u64>,
    pub results: Vec<ItemResult>,
}

impl SwapResponseBody {
    /// Whether the coverage guard held the change for a supervisor.
    pub fn is_held(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.outcome, rota_core::command::ItemOutcome::Held { .. }))
    }
}

impl From<rota_core::command::SwapResult> for SwapResponseBody {
    fn from(result: rota_core::command::SwapResult) -> Self {
        Self {
            schedule_version_id: result.current_version_id.to_string(),
            committed_version: result.committed.map(|c| c.version.get()),
            results: result
                .outcomes
                .into_iter()
                .enumerate()
                .map(|(index, outcome)| ItemResult { index, outcome })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_from_the_report_parses_and_every_bad_field_is_named() {
        let body = r#"{
            "scheduleVersionId": "new-fetched-version-id",
            "shiftSwaps": [{"agentId": "agent-uuid", "originalShiftId": "shift-uuid",
                            "newShiftId": "new-shift-uuid", "reasonCode": "personal"}],
            "effectiveDate": "2023-10-27"
        }"#;
        let parsed: SwapRequestBody = serde_json::from_str(body).unwrap();
        let Err(SwapBodyError::Fields(errors)) = parsed.into_request(500) else {
            panic!()
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "scheduleVersionId",
                "shiftSwaps[0].agentId",
                "shiftSwaps[0].originalShiftId",
                "shiftSwaps[0].newShiftId"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let err = serde_json::from_str::<SwapRequestBody>(
            r#"{"scheduleVersionId":"x","shiftSwaps":[],"batchSize":5}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("batchSize"), "{err}");
    }

    #[test]
    fn too_many_items_is_its_own_error() {
        let item = SwapItemBody {
            agent_id: "a".into(),
            original_shift_id: "b".into(),
            new_shift_id: "c".into(),
            reason_code: "other".into(),
            counterpart_agent_id: None,
        };
        let body = SwapRequestBody {
            schedule_version_id: "x".into(),
            shift_swaps: vec![item; 3],
            effective_date: None,
            mode: None,
            conflict_scope: None,
        };
        assert_eq!(
            body.into_request(2),
            Err(SwapBodyError::TooManyItems { max: 2, got: 3 })
        );
    }
}
