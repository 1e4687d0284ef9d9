//! `ftpman user ...` and `ftpman token ...`

use crate::cli::{Role, TokenCommand, UserCommand};
use crate::output::{self, table};
use crate::secrets::{self, SecretSource};
use crate::{CmdResult, Failure};
use ftpman_core::Manager;
use ftpman_core::manager::views::{TokenView, UserView};
use ftpman_core::model::UserRole;
use std::process::ExitCode;

fn user_role(role: Role) -> UserRole {
    match role {
        Role::Admin => UserRole::Admin,
        Role::Operator => UserRole::Operator,
        Role::Viewer => UserRole::Viewer,
    }
}

pub async fn tokens(m: &Manager, cmd: TokenCommand, as_json: bool) -> CmdResult {
    match cmd {
        TokenCommand::Create { name, user, role } => {
            let (token, secret) = m.create_token(&user, &name, user_role(role)).await?;
            if as_json {
                let mut v = serde_json::to_value(TokenView::from(&token)).map_err(|e| Failure::from(e.to_string()))?;
                v["secret"] = serde_json::Value::String(secret.expose().to_string());
                output::json(&v);
            } else {
                println!(
                    "token {} ('{}', {}) for user '{}'; its secret, shown this once:\n\n    {}\n",
                    token.id,
                    output::safe(&token.name),
                    token.role,
                    token.username,
                    secret.expose()
                );
            }
        }
        TokenCommand::List => {
            let tokens = m.tokens().await?;
            if as_json {
                output::json(&tokens.iter().map(TokenView::from).collect::<Vec<_>>());
            } else {
                let rows = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            output::safe(&t.name),
                            t.username.clone(),
                            t.role.to_string(),
                            output::when(Some(t.created_at)),
                            output::when(t.last_used_at),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(
                    &["ID", "NAME", "USER", "ROLE", "CREATED (UTC)", "LAST USED (UTC)"],
                    &rows,
                );
            }
        }
        TokenCommand::Revoke { id } => {
            m.revoke_token(id).await?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

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
            let user = m.add_user(&name, user_role(role), &password).await?;
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
        UserCommand::Edit {
            name,
            role,
            password_stdin,
            reset_password,
        } => {
            let password = if password_stdin || reset_password {
                secrets::read(SecretSource {
                    env: None,
                    stdin: password_stdin,
                    prompt: Some(format!("New password for user {name}: ")),
                })?
            } else {
                None
            };
            if reset_password && password.is_none() {
                return Err(Failure::usage(
                    "no terminal to ask for the new password on: give it with --password-stdin",
                ));
            }
            if role.is_none() && password.is_none() {
                return Err(Failure::usage(
                    "say what to change: --role ROLE, --password-stdin or --reset-password",
                ));
            }
            let user = m.edit_user(&name, role.map(user_role), password.as_ref()).await?;
            let reset = if password.is_some() {
                "; password reset, their web sessions ended"
            } else {
                ""
            };
            println!("user '{}' is {}{reset}", user.username, user.role);
        }
        UserCommand::Remove { name } => {
            m.remove_user(&name).await?;
            println!("user '{name}' removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
