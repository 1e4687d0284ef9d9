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
                let map: serde_json::Map<String, serde_json::Value> = settings
                    .iter()
                    .map(|s| (s.key.clone(), serde_json::Value::String(shown(s))))
                    .collect();
                output::json(&serde_json::Value::Object(map));
            } else {
                let rows = settings
                    .iter()
                    .map(|s| vec![s.key.clone(), shown(s)])
                    .collect::<Vec<_>>();
                table(&["KEY", "VALUE"], &rows);
            }
        }
        SettingsCommand::Set { key, value } => {
            m.set_setting(&key, &value).await?;
            println!("{key} set");
        }
    }
    Ok(ExitCode::SUCCESS)
}
