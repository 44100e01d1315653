//! Business units, management units and agents.

use std::future::Future;

use super::{Page, PageRequest, StoreResult};
use crate::directory::{Agent, Availability, BusinessUnit, ManagementUnit};
use crate::ids::{AgentId, BusinessUnitId};

/// Business units, management units and agents.
pub trait DirectoryStore: Send + Sync {
    fn create_business_unit(
        &self,
        bu: &BusinessUnit,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn business_unit(
        &self,
        id: BusinessUnitId,
    ) -> impl Future<Output = StoreResult<BusinessUnit>> + Send;
    fn business_units(
        &self,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<BusinessUnit>>> + Send;
    fn create_management_unit(
        &self,
        mu: &ManagementUnit,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Creates agents in one transaction (an import of a whole roster).
    fn create_agents(&self, agents: &[Agent]) -> impl Future<Output = StoreResult<()>> + Send;
    fn agent(&self, id: AgentId) -> impl Future<Output = StoreResult<Agent>> + Send;
    fn agents(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<Agent>>> + Send;
    /// Every agent of `bu` by name: id, name and skills only (what a week grid lists).
    fn roster(
        &self,
        bu: BusinessUnitId,
    ) -> impl Future<Output = StoreResult<Vec<crate::directory::RosterEntry>>> + Send;
    fn set_availability(
        &self,
        id: AgentId,
        availability: &Availability,
    ) -> impl Future<Output = StoreResult<Agent>> + Send;
}
