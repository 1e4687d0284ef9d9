//! `ftpman user ...`

use crate::cli::{Role, UserCommand};
use crate::output::{self, table};
use crate::secrets::{self, SecretSource};
use crate::{CmdResult, Failure};
use ftpman_core::Manager;
use ftpman_core::manager::views::UserView;
use ftpman_core::model::UserRole;
use std::process::ExitCode;

pub async fn run(m: &Manager, cmd: UserCommand, as_json: bool) -> CmdResult {
    match cmd {
        UserCommand::Add {
            name,
            role,
            password_stdin,
        } => {
            let password = secrets::read(SecretSource {
                env: None,
                stdin: password_stdin,
                prompt: Some(format!("Password for user {name}: ")),
            })?
            .ok_or_else(|| {
                Failure::usage("give the password with --password-stdin (or run on a terminal to be asked)")
            })?;
            let role = match role {
                Role::Admin => UserRole::Admin,
                Role::Operator => UserRole::Operator,
                Role::Viewer => UserRole::Viewer,
            };
            let user = m.add_user(&name, role, &password).await?;
            println!("user '{}' added as {}", user.username, user.role);
        }
        UserCommand::List => {
            let users = m.users().await?;
            if as_json {
                output::json(&users.iter().map(UserView::from).collect::<Vec<_>>());
            } else {
                let rows = users
                    .iter()
                    .map(|u| vec![u.username.clone(), u.role.to_string(), output::when(Some(u.created_at))])
                    .collect::<Vec<_>>();
                table(&["USER", "ROLE", "CREATED (UTC)"], &rows);
            }
        }
        UserCommand::Remove { name } => {
            m.remove_user(&name).await?;
            println!("user '{name}' removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
