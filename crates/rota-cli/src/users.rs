//! `rota users`: portal accounts and their one-time sign-in links; and the accounts `rota
//! seed --portal-users` makes so that a newcomer can sign in to the seeded week at once.

use anyhow::{Context, Result};
use rota_core::auth::{Role, User};
use rota_core::store::{DirectoryStore, PageRequest, StoreError, UserStore};
use rota_store::Store;

#[derive(clap::Subcommand)]
pub enum UsersCommand {
    /// Create a portal user and print `{"userId", "username", "signInLink"}`. The link works
    /// once, for 24 hours; the person sets a password after using it.
    Create(CreateArgs),
    /// Print a new one-time sign-in link for a user (for a forgotten or locked password).
    Link(LinkArgs),
}

/// The roles a person can have (`integration` is for API clients only).
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PersonRole {
    Agent,
    Supervisor,
    Admin,
}

impl From<PersonRole> for Role {
    fn from(role: PersonRole) -> Self {
        match role {
            PersonRole::Agent => Self::Agent,
            PersonRole::Supervisor => Self::Supervisor,
            PersonRole::Admin => Self::Admin,
        }
    }
}

#[derive(clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    database: crate::db::DatabaseArgs,
    /// What the person types to sign in (a-z, 0-9, '.', '_', '-').
    #[arg(long)]
    username: String,
    /// The name pages show.
    #[arg(long, default_value = "")]
    name: String,
    /// What the person may do.
    #[arg(long, value_enum)]
    role: PersonRole,
    /// For supervisors: the business unit they supervise (agents: their agent's).
    #[arg(long)]
    business_unit: Option<rota_core::ids::BusinessUnitId>,
    /// For agents: the agent record they are.
    #[arg(long)]
    agent_id: Option<rota_core::ids::AgentId>,
    /// Where the service is reached, for the printed link.
    #[arg(long, env = "ROTA_BASE_URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
}

#[derive(clap::Args)]
pub struct LinkArgs {
    #[command(flatten)]
    database: crate::db::DatabaseArgs,
    /// The user the link signs in.
    #[arg(long)]
    username: String,
    /// Where the service is reached, for the printed link.
    #[arg(long, env = "ROTA_BASE_URL", default_value = "http://127.0.0.1:8080")]
    base_url: String,
}

pub async fn run(command: UsersCommand) -> Result<()> {
    match command {
        UsersCommand::Create(args) => {
            let store = args.database.open().await?;
            let role = args.role.into();
            let business_unit = match (args.business_unit, args.agent_id) {
                (Some(bu), _) => Some(bu),
                (None, Some(agent)) => Some(store.agent(agent).await?.business_unit_id),
                (None, None) => None,
            };
            let user = User::new(
                &args.username,
                &args.name,
                role,
                business_unit,
                args.agent_id,
            )?;
            let link = create(&store, &user, &args.base_url).await?;
            println!(
                "{}",
                serde_json::json!({"userId": user.id, "username": user.username, "signInLink": link})
            );
            Ok(())
        }
        UsersCommand::Link(args) => {
            let store = args.database.open().await?;
            let user = store
                .user_by_name(&args.username)
                .await?
                .with_context(|| format!("no user {}", args.username))?;
            println!("{}", link(&store, &user, &args.base_url).await?);
            Ok(())
        }
    }
}

async fn create(store: &Store, user: &User, base_url: &str) -> Result<String> {
    store.create_user(user).await?;
    link(store, user, base_url).await
}

async fn link(store: &Store, user: &User, base_url: &str) -> Result<String> {
    let (path, _) = rota_app::users::create_link(store, user.id, jiff::Timestamp::now()).await?;
    Ok(format!("{}{path}", base_url.trim_end_matches('/')))
}

/// A supervisor of `bu` and two of its agents as portal users, each with a sign-in link,
/// printed to stderr. The first unit seeded gets `supervisor`, `agent1` and `agent2`; a unit
/// seeded after it finds those taken and gets them with its name (`supervisor.dallas`).
pub async fn seed_portal_users(
    store: &Store,
    bu: rota_core::ids::BusinessUnitId,
    base_url: &str,
) -> Result<()> {
    let unit = store.business_unit(bu).await?;
    let agents = store.agents(bu, PageRequest::new(0, 2)).await?.items;
    let mut people = vec![(
        "supervisor".to_owned(),
        "Sam Supervisor".to_owned(),
        Role::Supervisor,
        None,
    )];
    for (i, agent) in agents.iter().enumerate() {
        people.push((
            format!("agent{}", i + 1),
            agent.name.clone(),
            Role::Agent,
            Some(agent.id),
        ));
    }
    eprintln!("Sign-in links (each works once, for 24 hours):");
    for (username, name, role, agent) in people {
        let user = User::new(&username, &name, role, Some(bu), agent)?;
        let user = match store.create_user(&user).await {
            Err(StoreError::AlreadyExists(_)) => {
                let username = format!("{username}.{}", slug(&unit.name));
                let user = User::new(&username, &name, role, Some(bu), agent)?;
                store
                    .create_user(&user)
                    .await
                    .with_context(|| format!("the username {username} is taken too"))?;
                user
            }
            created => {
                created?;
                user
            }
        };
        let link = link(store, &user, base_url).await?;
        eprintln!("  {:<11} {:<24} {link}", user.username, user.display_name);
    }
    Ok(())
}

/// A unit's name as a username part: lowercase letters and digits, anything else one '-'.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}
