//! Time off through the API: requests, decisions, cancellations, balances and allowances.

use rota_api::paging::Page;
use rota_api::timeoff::{
    AllowanceQuery, AllowancesBody, BalanceBody, NewTimeOffBody, TimeOffCancelBody,
    TimeOffDecisionBody, TimeOffQuery,
};
use rota_core::ids::{AgentId, BusinessUnitId, TimeOffId};
use rota_core::timeoff::{AllowanceDay, Balance, TimeOffRequest};

use crate::api::NO_BODY;
use crate::ops;
use crate::{CallOptions, Client, ClientError, Reply};

impl Client {
    /// Files a time-off request (an agent's own, or a supervisor's for an agent of their
    /// business unit); the policy answers at once.
    pub async fn request_time_off(
        &self,
        body: &NewTimeOffBody,
        options: &CallOptions,
    ) -> Result<Reply<TimeOffRequest>, ClientError> {
        self.send_op(&ops::REQUEST_TIME_OFF, &[], NO_BODY, Some(body), options)
            .await
    }

    /// Time-off requests, newest first.
    pub async fn time_off_requests(
        &self,
        query: &TimeOffQuery,
    ) -> Result<Reply<Page<TimeOffRequest>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::TIME_OFF_REQUESTS, &[], Some(query), NO_BODY, &options)
            .await
    }

    pub async fn time_off(&self, id: TimeOffId) -> Result<Reply<TimeOffRequest>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::TIME_OFF, &[&id], NO_BODY, NO_BODY, &options)
            .await
    }

    /// A supervisor approves (optionally overriding failed rules) or denies a request.
    pub async fn decide_time_off(
        &self,
        id: TimeOffId,
        body: &TimeOffDecisionBody,
        options: &CallOptions,
    ) -> Result<Reply<TimeOffRequest>, ClientError> {
        self.send_op(&ops::DECIDE_TIME_OFF, &[&id], NO_BODY, Some(body), options)
            .await
    }

    pub async fn cancel_time_off(
        &self,
        id: TimeOffId,
        body: &TimeOffCancelBody,
        options: &CallOptions,
    ) -> Result<Reply<TimeOffRequest>, ClientError> {
        self.send_op(&ops::CANCEL_TIME_OFF, &[&id], NO_BODY, Some(body), options)
            .await
    }

    pub async fn time_off_balances(
        &self,
        agent: AgentId,
    ) -> Result<Reply<Vec<Balance>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(&ops::BALANCES, &[&agent], NO_BODY, NO_BODY, &options)
            .await
    }

    /// Replaces an agent's balance of a code (safe to retry).
    pub async fn set_time_off_balance(
        &self,
        agent: AgentId,
        code: &str,
        body: &BalanceBody,
        options: &CallOptions,
    ) -> Result<Reply<Balance>, ClientError> {
        self.send_op(
            &ops::SET_BALANCE,
            &[&agent, &code],
            NO_BODY,
            Some(body),
            options,
        )
        .await
    }

    /// Sets allowances by group and day; the waitlist of those days is promoted.
    pub async fn set_time_off_allowances(
        &self,
        business_unit: BusinessUnitId,
        body: &AllowancesBody,
        options: &CallOptions,
    ) -> Result<Reply<Vec<AllowanceDay>>, ClientError> {
        self.send_op(
            &ops::SET_ALLOWANCES,
            &[&business_unit],
            NO_BODY,
            Some(body),
            options,
        )
        .await
    }

    pub async fn time_off_allowances(
        &self,
        business_unit: BusinessUnitId,
        query: &AllowanceQuery,
    ) -> Result<Reply<Vec<AllowanceDay>>, ClientError> {
        let options = CallOptions::default();
        self.send_op(
            &ops::ALLOWANCES,
            &[&business_unit],
            Some(query),
            NO_BODY,
            &options,
        )
        .await
    }
}
