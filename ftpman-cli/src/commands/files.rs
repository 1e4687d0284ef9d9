//! `ftpman upload` and `ftpman download`.

use crate::progress::TransferProgress;
use crate::{CmdResult, output};
use ftpman_core::Manager;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub async fn upload(m: &Manager, target: &str, files: &[PathBuf]) -> CmdResult {
    let total = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|md| md.len())
        .sum();
    let mut progress = TransferProgress::new(Some(total));
    let report = m.upload(target, files, &mut |name, n| progress.update(name, n)).await;
    progress.finish();
    let report = report?;
    for (name, n) in &report.files {
        println!("uploaded {name} ({})", output::bytes(*n));
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn download(m: &Manager, source: &str, dest: &Path) -> CmdResult {
    let mut progress = TransferProgress::new(None);
    let report = m.download(source, dest, &mut |name, n| progress.update(name, n)).await;
    progress.finish();
    let report = report?;
    for (name, n) in &report.files {
        println!("downloaded {name} ({})", output::bytes(*n));
    }
    Ok(ExitCode::SUCCESS)
}
