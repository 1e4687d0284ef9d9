//! `ftpman site ...`

use crate::cli::{SiteCommand, SiteFlags};
use crate::output::{self, table};
use crate::secrets::{self, SecretSource};
use crate::{CmdResult, Failure};
use ftpman_core::manager::views::{EntryView, SiteView};
use ftpman_core::{Manager, ManagerError, Secret};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

/// Site options from flags, with secrets read from env / stdin / a prompt.
fn options(name: &str, flags: &SiteFlags, adding: bool) -> Result<ftpman_core::manager::SiteOptions, Failure> {
    // The URL is checked before any secret is read: a password inside it is refused outright.
    let needs_password = match &flags.url {
        Some(url) if adding => {
            Manager::site_needs_password(url, flags.key_file.is_some()).map_err(|e| Failure::usage(e.to_string()))?
        }
        _ => false,
    };
    let password = secrets::read(SecretSource {
        env: flags.password_env.as_deref(),
        stdin: flags.password_stdin,
        prompt: needs_password.then(|| format!("Password for site {name}: ")),
    })?;
    if needs_password && password.is_none() {
        return Err(Failure::usage(
            "this site needs a password: give --password-env VAR or --password-stdin (or run on a terminal to be asked)",
        ));
    }
    let private_key = match &flags.key_file {
        Some(p) => Some(Secret::new(
            std::fs::read_to_string(p).map_err(|e| format!("reading the key file {}: {e}", p.display()))?,
        )),
        None => None,
    };
    let key_passphrase = secrets::read(SecretSource {
        env: flags.key_passphrase_env.as_deref(),
        stdin: false,
        prompt: None,
    })?;
    Ok(ftpman_core::manager::SiteOptions {
        url: flags.url.clone(),
        password,
        private_key,
        key_passphrase,
        host_key: flags.host_key.clone(),
        accept_new_host_key: flags.accept_new_host_key,
        cert_fingerprint: flags.cert_fingerprint.clone(),
        insecure_skip_verify: crate::commands::on_off(flags.insecure_skip_verify, flags.verify_tls),
        active: crate::commands::on_off(flags.active, flags.passive),
        max_connections: flags.max_connections,
        timeout: flags.timeout.clone(),
        create: flags.create,
    })
}

/// On a terminal, asks whether to trust an unknown host key.
fn ask_trust(site: &str, offered: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprintln!("The SSH server of site '{site}' offers the host key\n    {offered}");
    eprint!("Check it with the server's administrator. Trust it and pin it? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

pub async fn run(m: &Manager, cmd: SiteCommand, as_json: bool) -> CmdResult {
    match cmd {
        SiteCommand::Add { name, flags } => {
            let mut opts = options(&name, &flags, true)?;
            let site = match m.add_site(&name, &opts).await {
                Err(ManagerError::HostKeyUnknown { offered, .. }) if ask_trust(&name, &offered) => {
                    opts.host_key = Some(offered);
                    m.add_site(&name, &opts).await?
                }
                other => other?,
            };
            println!("site '{}' added: {}", site.name, site.url());
            if let Some(k) = &site.host_key {
                println!("host key pinned: {k}");
            }
        }
        SiteCommand::Edit { name, flags } => {
            let opts = options(&name, &flags, false)?;
            let site = m.edit_site(&name, &opts).await?;
            println!("site '{}' changed: {}", site.name, site.url());
        }
        SiteCommand::List => {
            let sites = m.sites().await?;
            if as_json {
                output::json(&sites.iter().map(SiteView::from).collect::<Vec<_>>());
            } else {
                let rows = sites
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.protocol.to_string(),
                            s.url(),
                            s.max_connections.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(&["NAME", "PROTOCOL", "URL", "MAX CONN"], &rows);
            }
        }
        SiteCommand::Show { name } => {
            let s = m.site(&name).await?;
            let view = SiteView::from(&s);
            let v = serde_json::to_value(&view).unwrap_or_default();
            if as_json {
                output::json(&view);
            } else if let Some(obj) = v.as_object() {
                for (k, val) in obj {
                    println!(
                        "{k:<22} {}",
                        val.as_str().map(str::to_string).unwrap_or_else(|| val.to_string())
                    );
                }
            }
        }
        SiteCommand::Remove { name } => {
            m.remove_site(&name).await?;
            println!("site '{name}' removed");
        }
        SiteCommand::Test { name } => match m.test_site(&name).await? {
            Ok(r) => {
                println!(
                    "site '{name}' works: logged in in {} ms, {} entries in the root ({} ms)",
                    r.connect_time.as_millis(),
                    r.root_entries,
                    r.list_time.as_millis()
                );
            }
            Err(f) => return Err(Failure::from(format!("site '{name}' test failed: {f}"))),
        },
        SiteCommand::Ls { name, path, bytes } => {
            let entries = m.list(&name, &path).await?;
            if as_json {
                output::json(&entries.iter().map(EntryView::from).collect::<Vec<_>>());
            } else {
                let rows = entries
                    .iter()
                    .map(|e| {
                        let kind = match e.kind {
                            ftpman_core::transport::EntryKind::Dir => "dir",
                            ftpman_core::transport::EntryKind::File => "file",
                            ftpman_core::transport::EntryKind::Symlink => "link",
                            ftpman_core::transport::EntryKind::Other => "other",
                        };
                        vec![
                            kind.to_string(),
                            match (e.kind, bytes) {
                                (ftpman_core::transport::EntryKind::Dir, _) => String::new(),
                                (_, true) => e.size.to_string(),
                                (_, false) => output::bytes(e.size),
                            },
                            output::when(e.mtime),
                            e.name.clone(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(&["KIND", "SIZE", "MODIFIED (UTC)", "NAME"], &rows);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
