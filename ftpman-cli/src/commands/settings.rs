//! `ftpman settings ...`

use crate::CmdResult;
use crate::cli::SettingsCommand;
use crate::output::{self, table};
use ftpman_core::Manager;
use std::process::ExitCode;

pub async fn run(m: &Manager, cmd: SettingsCommand, as_json: bool) -> CmdResult {
    match cmd {
        SettingsCommand::Show => {
            let settings = m.settings().await?;
            let shown = |s: &ftpman_core::model::Setting| {
                if s.secret {
                    "***".to_string()
                } else {
                    s.value.expose().to_string()
                }
            };
            if as_json {
                let views: Vec<ftpman_core::manager::views::SettingView> = settings.iter().map(Into::into).collect();
                output::json(&views);
            } else {
                let rows = settings
                    .iter()
                    .map(|s| vec![s.key.clone(), shown(s)])
                    .collect::<Vec<_>>();
                table(&["KEY", "VALUE"], &rows);
            }
        }
        SettingsCommand::Set {
            key,
            value,
            value_env,
            value_stdin,
        } => {
            let secret = ftpman_core::manager::settings::SETTINGS
                .iter()
                .any(|s| s.key == key && s.secret);
            let value = match (value, value_env, value_stdin) {
                (Some(_), _, _) if secret => {
                    return Err(crate::Failure::usage(format!(
                        "{key}: is a secret; never put it on a command line: give it with --value-env VAR or --value-stdin"
                    )));
                }
                (Some(v), _, _) => v,
                (None, env, stdin) => crate::secrets::read(crate::secrets::SecretSource {
                    env: env.as_deref(),
                    stdin,
                    prompt: Some(format!("{key}: ")),
                })?
                .map(|s| s.expose().to_string())
                .ok_or_else(|| {
                    crate::Failure::usage(format!("{key}: give a value, --value-env VAR or --value-stdin"))
                })?,
            };
            m.set_setting(&key, &value).await?;
            println!("{key} set");
        }
        SettingsCommand::Unset { key } => {
            if m.unset_setting(&key).await? {
                println!("{key} removed");
            } else {
                println!("{key} was not set");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
