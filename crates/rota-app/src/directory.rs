//! Agents' availability.

use rota_core::auth::Action;
use rota_core::directory::{Agent, Availability, AvailabilityDoc};
use rota_core::ids::AgentId;
use rota_core::store::DirectoryStore;

use crate::command::Command;
use crate::error::{AppError, AppResult, bounded};
use crate::idempotency::{Outcome, Recording};

/// Replaces an agent's availability; windows are normalised (merged) and empty or inverted
/// ones rejected before anything is stored.
pub async fn set_availability(
    cmd: &Command,
    id: AgentId,
    doc: AvailabilityDoc,
) -> AppResult<Outcome<Agent>> {
    bounded("weekly", doc.weekly.len(), 100)?;
    bounded("exceptions", doc.exceptions.len(), 1000)?;
    let store = cmd.app.store().clone();
    let owner = store.agent(id).await?;
    cmd.caller.require(
        Action::SetAvailability(id),
        owner.business_unit_id,
        ("agent", id),
    )?;
    let availability = Availability::try_from(doc.clone())
        .map_err(|e| AppError::unprocessable("availability", e.to_string()))?;
    cmd.once(&doc, Recording::Claimed, |_| async move {
        store.set_availability(id, &availability).await
    })
    .await
}
