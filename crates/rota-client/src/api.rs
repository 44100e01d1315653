//! One method per operation of the API (see [`crate::ops`]), typed with rota-api's wire types
//! and rota-core's ids.

use jiff::civil::Date;
use rota_api::coverage::{
    CoverageBody, CoverageQuery, HeldDecisionBody, HeldQuery, RequirementsBody,
};
use rota_api::health::Health;
use rota_api::oauth::{OAuthError, TokenResponse};
use rota_api::paging::{Page, Paging};
use rota_api::schedules::{
    AsOfBody, EditBody, FindQuery, ImportBody, ReadQuery, ScheduleBody, VersionsBody, VersionsQuery,
};
use rota_api::swaps::{SwapRequestBody, SwapResponseBody};
use rota_api::trades::{
    CancelBody, MatchBody, MySchedule, NewTradeBody, ReviewBody, ReviewResponse, TradeQuery,
    WeekQuery,
};
use rota_api::webhooks::{CreatedSubscription, NewSubscriptionBody, SubscriptionPatch};
use rota_core::directory::{Agent, AvailabilityDoc, BusinessUnit};
use rota_core::held::HeldChange;
use rota_core::ids::{
    AgentId, BusinessUnitId, HeldChangeId, ScheduleId, ShiftId, SubscriptionId, TradeId,
};
use rota_core::schedule::Schedule;
use rota_core::trade::{BusinessUnitSettings, Trade};
use rota_core::version::ScheduleVersionId;
use rota_core::webhook::{Delivery, Subscription};
use serde::Serialize;

use crate::ops::{self, Operation};
use crate::{CallOptions, Client, ClientError, Reply, decode};

/// No request body.
pub(crate) const NO_BODY: Option<&()> = None;

impl Client {
    /// Sends `op` at `path` with `query` (if any) and `body` (if any) as JSON.
    pub(crate) async fn send_op<Q: Serialize, B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        op: &Operation,
        params: &[&(dyn std::fmt::Display + Sync)],
        query: Option<&Q>,
        body: Option<&B>,
        options: &CallOptions,
    ) -> Result<Reply<T>, ClientError> {
        let mut path = op.path(params);
        if let Some(query) = query {
            let query =
                serde_urlencoded::to_string(query).map_err(|e| ClientError::Unexpected {
                    status: reqwest::StatusCode::BAD_REQUEST,
                    body: e.to_string(),
                })?;
            if !query.is_empty() {
                path.push('?');
                path.push_str(&query);
            }
        }
        self.call(op.method.clone(), &path, body, options).await
    }

    /// Client-credentials grant: a token for `client_id` (sent with HTTP Basic). A refusal is
    /// RFC 6749's error body, reported as [`ClientError::Unexpected`] with that body.
    pub async fn token(&self, client_id: &str, secret: &str) -> Result<TokenResponse, ClientError> {
        let response = self
            .http
            .post(format!("{}{}", self.base, ops::TOKEN.template))
            .basic_auth(client_id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        if !status.is_success() {
            let body = match serde_json::from_slice::<OAuthError>(&bytes) {
                Ok(e) => format!("{}: {}", e.error, e.error_description),
                Err(_) => String::from_utf8_lossy(&bytes).into_owned(),
            };
            return Err(ClientError::Unexpected { status, body });
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
            status,
            body: e.to_string(),
        })
    }

    pub async fn health(&self) -> Result<Reply<Health>, ClientError> {
        self.health_with(&CallOptions::default()).await
    }

    pub async fn health_with(&self, options: &CallOptions) -> Result<Reply<Health>, ClientError> {
        self.send_op(&ops::HEALTH, &[], NO_BODY, NO_BODY, options)
            .await
    }

    pub async fn ready(&self) -> Result<Reply<Health>, ClientError> {
        self.send_op(&ops::READY, &[], NO_BODY, NO_BODY, &CallOptions::default())
            .await
    }

    /// The Prometheus text exposition.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let response = self
            .send_raw(
                ops::METRICS.method.clone(),
                ops::METRICS.template,
                None,
                &CallOptions::default(),
            )
            .await?;
        let status = response.status();
        let text = response.text().await?;
        if status.is_success() {
            Ok(text)
        } else {
            Err(ClientError::Unexpected { status, body: text })
        }
    }

    pub async fn business_units(
        &self,
        paging: &Paging,
    ) -> Result<Reply<Page<BusinessUnit>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::BUSINESS_UNITS, &[], Some(paging), NO_BODY, &options)
            .await
    }

    pub async fn agents(
        &self,
        business_unit: BusinessUnitId,
        paging: &Paging,
    ) -> Result<Reply<Page<Agent>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::AGENTS,
            &[&business_unit],
            Some(paging),
            NO_BODY,
            &options,
        )
        .await
    }

    pub async fn set_availability(
        &self,
        agent: AgentId,
        doc: &AvailabilityDoc,
    ) -> Result<Reply<Agent>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::SET_AVAILABILITY,
            &[&agent],
            NO_BODY,
            Some(doc),
            &options,
        )
        .await
    }

    /// The schedule of `business_unit` for the week of `week_date`: empty or one.
    pub async fn find_schedule(
        &self,
        business_unit: BusinessUnitId,
        week_date: Date,
    ) -> Result<Reply<Vec<Schedule>>, ClientError> {
        let query = FindQuery {
            business_unit_id: business_unit.to_string(),
            week_date,
        };
        let options = CallOptions::default();
        self.send_op(&ops::FIND_SCHEDULE, &[], Some(&query), NO_BODY, &options)
            .await
    }

    /// Imports a week as version 1 of a new schedule.
    pub async fn import_schedule(
        &self,
        body: &ImportBody,
        options: &CallOptions,
    ) -> Result<Reply<Schedule>, ClientError> {
        self.send_op(&ops::IMPORT_SCHEDULE, &[], NO_BODY, Some(body), options)
            .await
    }

    /// The schedule with a page of its shifts; `If-None-Match` in `options` may answer 304.
    pub async fn schedule(
        &self,
        id: ScheduleId,
        query: &ReadQuery,
        options: &CallOptions,
    ) -> Result<Reply<ScheduleBody>, ClientError> {
        self.send_op(&ops::SCHEDULE, &[&id], Some(query), NO_BODY, options)
            .await
    }

    /// A page of versions, newest first; with `since`, the versions after it with changes.
    pub async fn versions(
        &self,
        id: ScheduleId,
        query: &VersionsQuery,
    ) -> Result<Reply<VersionsBody>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::VERSIONS, &[&id], Some(query), NO_BODY, &options)
            .await
    }

    pub async fn schedule_as_of(
        &self,
        id: ScheduleId,
        version: ScheduleVersionId,
    ) -> Result<Reply<AsOfBody>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::SCHEDULE_AS_OF,
            &[&id, &version],
            NO_BODY,
            NO_BODY,
            &options,
        )
        .await
    }

    pub async fn publish(
        &self,
        id: ScheduleId,
        options: &CallOptions,
    ) -> Result<Reply<Schedule>, ClientError> {
        self.send_op(&ops::PUBLISH, &[&id], NO_BODY, NO_BODY, options)
            .await
    }

    pub async fn shift_swaps(
        &self,
        body: &SwapRequestBody,
        options: &CallOptions,
    ) -> Result<Reply<SwapResponseBody>, ClientError> {
        self.send_op(&ops::SHIFT_SWAPS, &[], NO_BODY, Some(body), options)
            .await
    }

    /// A supervisor's change to one shift, checked against the shift's version.
    pub async fn edit_shift(
        &self,
        shift: ShiftId,
        body: &EditBody,
        options: &CallOptions,
    ) -> Result<Reply<SwapResponseBody>, ClientError> {
        self.send_op(&ops::EDIT_SHIFT, &[&shift], NO_BODY, Some(body), options)
            .await
    }

    /// The caller's (an agent's) week and the week's open shifts.
    pub async fn my_schedule(&self, week_date: Date) -> Result<Reply<MySchedule>, ClientError> {
        let query = WeekQuery { week_date };
        let options = CallOptions::default();
        self.send_op(&ops::MY_SCHEDULE, &[], Some(&query), NO_BODY, &options)
            .await
    }

    /// An agent picks up an open shift.
    pub async fn pickup(&self, shift: ShiftId) -> Result<Reply<SwapResponseBody>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::PICKUP, &[&shift], NO_BODY, NO_BODY, &options)
            .await
    }

    /// An agent releases their shift.
    pub async fn release(&self, shift: ShiftId) -> Result<Reply<SwapResponseBody>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::RELEASE, &[&shift], NO_BODY, NO_BODY, &options)
            .await
    }

    /// An agent offers one of their shifts.
    pub async fn create_trade(&self, body: &NewTradeBody) -> Result<Reply<Trade>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::CREATE_TRADE, &[], NO_BODY, Some(body), &options)
            .await
    }

    pub async fn trade(&self, id: TradeId) -> Result<Reply<Trade>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::TRADE, &[&id], NO_BODY, NO_BODY, &options)
            .await
    }

    pub async fn trades(&self, query: &TradeQuery) -> Result<Reply<Page<Trade>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::TRADES, &[], Some(query), NO_BODY, &options)
            .await
    }

    pub async fn match_trade(
        &self,
        id: TradeId,
        body: &MatchBody,
    ) -> Result<Reply<Trade>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::MATCH_TRADE, &[&id], NO_BODY, Some(body), &options)
            .await
    }

    /// What matching `id` would find now, without matching.
    pub async fn match_check(
        &self,
        id: TradeId,
        query: &rota_api::trades::MatchCheckQuery,
    ) -> Result<Reply<rota_core::trade::TradeCheck>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::MATCH_CHECK, &[&id], Some(query), NO_BODY, &options)
            .await
    }

    pub async fn cancel_trade(
        &self,
        id: TradeId,
        version: u32,
    ) -> Result<Reply<Trade>, ClientError> {
        let body = CancelBody { version };
        let options = CallOptions::default();
        self.send_op(&ops::CANCEL_TRADE, &[&id], NO_BODY, Some(&body), &options)
            .await
    }

    /// A supervisor's reviews; a result per review, in request order.
    pub async fn review_trades(
        &self,
        body: &ReviewBody,
    ) -> Result<Reply<ReviewResponse>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::REVIEW_TRADES, &[], NO_BODY, Some(body), &options)
            .await
    }

    pub async fn settings(
        &self,
        business_unit: BusinessUnitId,
    ) -> Result<Reply<BusinessUnitSettings>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::SETTINGS,
            &[&business_unit],
            NO_BODY,
            NO_BODY,
            &options,
        )
        .await
    }

    pub async fn set_settings(
        &self,
        business_unit: BusinessUnitId,
        settings: &BusinessUnitSettings,
    ) -> Result<Reply<BusinessUnitSettings>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::SET_SETTINGS,
            &[&business_unit],
            NO_BODY,
            Some(settings),
            &options,
        )
        .await
    }

    /// Subscribes; answers the subscription with its secret, shown this once.
    pub async fn create_webhook(
        &self,
        business_unit: BusinessUnitId,
        body: &NewSubscriptionBody,
    ) -> Result<Reply<CreatedSubscription>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::CREATE_WEBHOOK,
            &[&business_unit],
            NO_BODY,
            Some(body),
            &options,
        )
        .await
    }

    pub async fn webhooks(
        &self,
        business_unit: BusinessUnitId,
        paging: &Paging,
    ) -> Result<Reply<Page<Subscription>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::WEBHOOKS,
            &[&business_unit],
            Some(paging),
            NO_BODY,
            &options,
        )
        .await
    }

    pub async fn webhook(&self, id: SubscriptionId) -> Result<Reply<Subscription>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::WEBHOOK, &[&id], NO_BODY, NO_BODY, &options)
            .await
    }

    pub async fn update_webhook(
        &self,
        id: SubscriptionId,
        patch: &SubscriptionPatch,
    ) -> Result<Reply<Subscription>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::UPDATE_WEBHOOK, &[&id], NO_BODY, Some(patch), &options)
            .await
    }

    /// Deletes a subscription with its delivery log (204, no body).
    pub async fn delete_webhook(&self, id: SubscriptionId) -> Result<Reply<()>, ClientError> {
        let response = self
            .send_raw(
                ops::DELETE_WEBHOOK.method.clone(),
                &ops::DELETE_WEBHOOK.path(&[&id]),
                None,
                &CallOptions::default(),
            )
            .await?;
        if response.status().is_success() {
            return Ok(Reply {
                status: response.status(),
                headers: response.headers().clone(),
                body: Some(()),
            });
        }
        decode(response).await
    }

    pub async fn webhook_deliveries(
        &self,
        id: SubscriptionId,
        paging: &Paging,
    ) -> Result<Reply<Page<Delivery>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::WEBHOOK_DELIVERIES,
            &[&id],
            Some(paging),
            NO_BODY,
            &options,
        )
        .await
    }

    /// Sets the staffing requirement of the intervals the runs name, as one version.
    pub async fn set_requirements(
        &self,
        schedule: ScheduleId,
        body: &RequirementsBody,
        options: &CallOptions,
    ) -> Result<Reply<Schedule>, ClientError> {
        self.send_op(
            &ops::SET_REQUIREMENTS,
            &[&schedule],
            NO_BODY,
            Some(body),
            options,
        )
        .await
    }

    /// Coverage per skill and interval, now or (with `versionId`) as of a version.
    pub async fn coverage(
        &self,
        schedule: ScheduleId,
        query: &CoverageQuery,
    ) -> Result<Reply<CoverageBody>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::COVERAGE, &[&schedule], Some(query), NO_BODY, &options)
            .await
    }

    /// The changes the coverage guard held in a business unit, oldest first.
    pub async fn held_changes(
        &self,
        business_unit: BusinessUnitId,
        query: &HeldQuery,
    ) -> Result<Reply<Page<HeldChange>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::HELD_CHANGES,
            &[&business_unit],
            Some(query),
            NO_BODY,
            &options,
        )
        .await
    }

    pub async fn held_change(&self, id: HeldChangeId) -> Result<Reply<HeldChange>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::HELD_CHANGE, &[&id], NO_BODY, NO_BODY, &options)
            .await
    }

    /// A supervisor approves or denies a held change.
    pub async fn decide_held(
        &self,
        id: HeldChangeId,
        body: &HeldDecisionBody,
        options: &CallOptions,
    ) -> Result<Reply<HeldChange>, ClientError> {
        self.send_op(&ops::DECIDE_HELD, &[&id], NO_BODY, Some(body), options)
            .await
    }
}
