//! The SDK and the contract agree: every operation of the served `/openapi.json` has an SDK
//! method (`rota_client::ops::ALL`, from which the SDK builds every path) and the SDK calls
//! nothing the document lacks; the webhook payloads are in the document.

use std::collections::BTreeSet;

use reqwest::Method;
use rota_client::CallOptions;

use crate::common::spawn;

async fn document(app: &crate::common::TestApp) -> serde_json::Value {
    let response = app
        .anonymous
        .send_raw(Method::GET, "/openapi.json", None, &CallOptions::default())
        .await
        .unwrap();
    rota_client::decode(response)
        .await
        .unwrap()
        .into_body()
        .unwrap()
}

#[tokio::test]
async fn every_operation_of_the_document_has_an_sdk_method_and_no_other() {
    let app = spawn(|_| {}).await;
    let doc = document(&app).await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let sdk: BTreeSet<(String, String)> = rota_client::ops::ALL
        .iter()
        .map(|op| (op.method.to_string(), op.template.to_owned()))
        .collect();
    assert_eq!(
        sdk.len(),
        rota_client::ops::ALL.len(),
        "an operation listed twice"
    );
    let missing: Vec<_> = documented.difference(&sdk).collect();
    let unknown: Vec<_> = sdk.difference(&documented).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "documented without an SDK method: {missing:?}; in the SDK but not documented: {unknown:?}"
    );
}

#[tokio::test]
async fn each_webhook_payload_is_a_schema_of_the_document() {
    let app = spawn(|_| {}).await;
    let doc = document(&app).await;
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "WebhookEvent",
        "EventPayload",
        "ScheduleVersionCreated",
        "ShiftChangeSummary",
        "ShiftSwapApplied",
        "TradeStateChanged",
        "AgentAvailabilityUpdated",
        "RequirementsChanged",
        "RequirementSpan",
    ] {
        assert!(schemas.contains_key(name), "{name} is missing");
    }
    // The payload's variants are named by the event types a subscription asks for.
    let payload = serde_json::to_string(&schemas["EventPayload"]).unwrap();
    for t in rota_core::webhook::EventType::ALL {
        assert!(
            payload.contains(t.as_str()),
            "{t} is not a variant: {payload}"
        );
    }
}

#[tokio::test]
async fn the_document_names_fields_as_the_wire_does() {
    let app = spawn(|_| {}).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    let text = |name: &str| serde_json::to_string(&schemas[name]).unwrap();
    // What the server reads and writes (serde's names), as the document states them.
    let reassign = serde_json::to_value(rota_core::command::EditChange::Reassign {
        agent_id: rota_core::ids::AgentId::new(),
    })
    .unwrap();
    assert!(reassign.get("agentId").is_some());
    assert!(
        text("EditChange").contains("\"agentId\""),
        "{}",
        text("EditChange")
    );
    assert!(
        !text("EditChange").contains("agent_id"),
        "{}",
        text("EditChange")
    );
    assert!(
        text("ItemOutcome").contains("\"currentVersionId\""),
        "{}",
        text("ItemOutcome")
    );
    assert!(
        !text("ItemOutcome").contains("current_version_id"),
        "{}",
        text("ItemOutcome")
    );
}

#[tokio::test]
async fn every_operation_has_an_id_of_its_own() {
    let app = spawn(|_| {}).await;
    let doc = document(&app).await;
    let mut seen = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                seen.insert(id.to_owned()),
                "{method} {path}: operationId {id} is repeated"
            );
        }
    }
}
