//! The README's five-minute tour, run as written: its shell blocks are read from `README.md` and
//! run one after another in one shell, as a newcomer pastes them, in an empty folder (the
//! default embedded database, its key file made beside it). Only what names the newcomer's own
//! world is replaced: the partner's server by the real test sshd, its password and host key by
//! the test server's, `/srv/archive` by a temporary folder. The build step is the test's own
//! build of the binary.

use ftpman_testkit as harness;

use harness::servers;
use std::path::Path;
use std::process::Command;

/// The tour's commands: each shell block of the section, continuation lines joined; the build
/// block left out (the test runs the binary cargo built for it).
fn tour_commands(readme: &str) -> Vec<String> {
    let start = readme.find("## A five-minute tour").expect("the README has a tour");
    let rest = &readme[start + 3..];
    let section = &rest[..rest.find("\n## ").unwrap_or(rest.len())];
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut block: Vec<String> = Vec::new();
    for line in section.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            if in_block {
                if !block.iter().any(|c| c.starts_with("cargo build")) {
                    commands.append(&mut block);
                }
                block.clear();
                in_block = false;
            } else {
                in_block = t == "```sh";
            }
            continue;
        }
        if !in_block {
            continue;
        }
        match block.last_mut() {
            Some(last) if last.ends_with('\\') => {
                let kept = last.trim_end_matches('\\').trim_end().to_string();
                *last = format!("{kept} {t}");
            }
            _ => block.push(t.to_string()),
        }
    }
    commands
}

#[test]
fn the_readme_tour_runs_as_written() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = servers();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).expect("README");
    let commands = tour_commands(&readme);
    assert!(commands.len() >= 10, "the tour's commands: {commands:#?}");

    // The partner's outbound folder: two CSV files old enough for --min-age 5m, and a file the
    // job's --include leaves alone.
    let outbound = harness::scratch("tour-outbound");
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for (name, data) in [("a.csv", "1,2,3\n"), ("b.csv", "4,5,6\n"), ("notes.txt", "not a csv")] {
        let path = outbound.path.join(name);
        std::fs::write(&path, data).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(hour_ago))
            .expect("age");
    }
    harness::chown_tree(&outbound.path, &s.user);
    let home = tempfile::tempdir().expect("newcomer's folder");
    let archive = home.path().join("srv-archive");

    let replacements = [
        (
            "sftp://bob@sftp.partner.example:22/outbound".to_string(),
            format!("sftp://{}@127.0.0.1:{}{}", s.user, s.ssh_port, outbound.path.display()),
        ),
        ("PARTNER_PW='...'".to_string(), format!("PARTNER_PW='{}'", s.password)),
        (
            "PARTNER_HOST_KEY='SHA256:...'".to_string(),
            format!("PARTNER_HOST_KEY='{}'", s.host_key),
        ),
        (
            "file:///srv/archive".to_string(),
            format!("file://{}", archive.display()),
        ),
    ];
    let mut script = String::from("set -eu\n");
    for command in &commands {
        let mut line = command.clone();
        for (from, to) in &replacements {
            line = line.replace(from, to);
        }
        script.push_str(&format!("printf '\\n=== %s\\n' {}\n{line}\n", shell_quote(command)));
    }
    for (from, _) in &replacements {
        assert!(
            commands.iter().any(|c| c.contains(from.as_str())),
            "the tour no longer says {from}"
        );
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_ftpman")).parent().expect("bin dir");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(home.path())
        .env("PATH", path)
        .env_remove("DATABASE_URL")
        .env_remove("ENCRYPTION_KEY")
        .env_remove("ENCRYPTION_PASSWORD")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "the tour stopped:\n{stdout}\n{stderr}");

    let said = |prefix: &str| -> String {
        stdout
            .split("\n=== ")
            .find(|part| part.starts_with(prefix))
            .unwrap_or_else(|| panic!("no output of `{prefix}` in:\n{stdout}"))
            .to_string()
    };
    assert!(
        said("ftpman site test partner").contains("works: logged in"),
        "{stdout}"
    );
    assert!(said("ftpman site ls partner /").contains("a.csv"), "{stdout}");
    assert!(said("ftpman job show nightly").contains("Europe/Berlin"), "{stdout}");
    let dry = said("ftpman job run nightly --dry-run");
    assert!(
        dry.contains("would move 2 file(s)") && dry.contains("nothing was moved"),
        "{dry}"
    );
    assert!(said("ftpman runs --job nightly").contains("succeeded"), "{stdout}");
    assert!(said("ftpman run show 1").contains("a.csv"), "{stdout}");
    assert!(said("ftpman logs --level info").contains("nightly"), "{stdout}");
    // The newcomer's folder holds the embedded database and the key made beside it.
    assert!(home.path().join("ftpman.db").is_file() && home.path().join("ftpman.db.key").is_file());
    // Delivered into a folder per day, verified, then deleted at the partner; the text file left.
    let mut delivered = Vec::new();
    collect(&archive.join("in"), &mut delivered);
    delivered.sort();
    assert_eq!(delivered, ["a.csv", "b.csv"], "delivered under {}", archive.display());
    assert!(!outbound.path.join("a.csv").exists() && !outbound.path.join("b.csv").exists());
    assert!(outbound.path.join("notes.txt").exists());
}

fn collect(dir: &Path, names: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, names);
        } else {
            names.push(e.file_name().to_string_lossy().into_owned());
        }
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[test]
fn the_tour_is_read_as_a_newcomer_pastes_it() {
    let readme = "# x\n## A five-minute tour\n```sh\ncargo build --release\n```\n1. x\n   ```sh\n   ftpman a \\\n       --b c   # note\n   ftpman d\n   ```\n## Next\n```sh\nftpman not-this\n```\n";
    assert_eq!(tour_commands(readme), ["ftpman a --b c   # note", "ftpman d"]);
}
