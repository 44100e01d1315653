//! `rota clients`: the OAuth clients of the API (create, list, revoke).

use anyhow::Result;
use clap::Subcommand;
use rota_core::store::{AuthStore, DirectoryStore};

use crate::db;

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a client and print `{"clientId", "clientSecret", "role"}`; the secret is shown
    /// only this once.
    Create(CreateClientArgs),
    /// List the clients as JSON lines: id, role, business unit, agent (never a secret).
    List(crate::db::DatabaseArgs),
    /// Delete a client and its tokens: its secret no longer gets a token, and every node stops
    /// taking its tokens within 30 seconds.
    Revoke {
        #[command(flatten)]
        database: crate::db::DatabaseArgs,
        /// The client to revoke.
        #[arg(long)]
        client_id: String,
    },
}

/// What an API client may do (docs/API.md, "Roles").
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ClientRole {
    Admin,
    Supervisor,
    Integration,
    Agent,
}

impl From<ClientRole> for rota_core::auth::Role {
    fn from(role: ClientRole) -> Self {
        match role {
            ClientRole::Admin => Self::Admin,
            ClientRole::Supervisor => Self::Supervisor,
            ClientRole::Integration => Self::Integration,
            ClientRole::Agent => Self::Agent,
        }
    }
}

#[derive(clap::Args)]
pub struct CreateClientArgs {
    #[command(flatten)]
    database: crate::db::DatabaseArgs,
    /// What the client may do.
    #[arg(long, value_enum)]
    role: ClientRole,
    /// Confine the client to one business unit.
    #[arg(long)]
    business_unit: Option<rota_core::ids::BusinessUnitId>,
    /// For agent clients: the agent they act as.
    #[arg(long)]
    agent_id: Option<rota_core::ids::AgentId>,
}

pub async fn run(command: ClientsCommand) -> Result<()> {
    match command {
        ClientsCommand::Create(args) => create_client(args).await,
        ClientsCommand::List(args) => {
            let store = args.open().await?;
            for c in store.clients().await? {
                println!(
                    "{}",
                    serde_json::json!({
                        "clientId": c.client_id,
                        "role": c.role.as_str(),
                        "businessUnitId": c.business_unit,
                        "agentId": c.agent,
                    })
                );
            }
            Ok(())
        }
        ClientsCommand::Revoke {
            database,
            client_id,
        } => {
            let store = database.open().await?;
            anyhow::ensure!(
                store.revoke_client(&client_id).await?,
                "there is no client {client_id} in {}",
                db::redacted(&database.database_url)
            );
            eprintln!("revoked {client_id} and its tokens");
            Ok(())
        }
    }
}

async fn create_client(args: CreateClientArgs) -> Result<()> {
    let role: rota_core::auth::Role = args.role.into();
    anyhow::ensure!(
        (role == rota_core::auth::Role::Agent) == args.agent_id.is_some(),
        "--agent-id is required for agent clients and only for them"
    );
    let store = args.database.open().await?;
    if let Some(bu) = args.business_unit {
        store.business_unit(bu).await?;
    }
    if let Some(agent) = args.agent_id {
        let agent = store.agent(agent).await?;
        anyhow::ensure!(
            args.business_unit
                .is_none_or(|bu| bu == agent.business_unit_id),
            "the agent is not in that business unit"
        );
    }
    let business_unit = match (args.business_unit, args.agent_id) {
        (None, Some(agent)) => Some(store.agent(agent).await?.business_unit_id),
        (bu, _) => bu,
    };
    let client =
        rota_app::tokens::create_client(&store, role, business_unit, args.agent_id).await?;
    println!("{}", serde_json::to_string(&client)?);
    Ok(())
}
