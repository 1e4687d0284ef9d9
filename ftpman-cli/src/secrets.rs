//! Reading secrets: from an environment variable, standard input, or a prompt that does not
//! echo. Never from the command line.

use ftpman_core::Secret;
use std::io::{IsTerminal, Read};

/// Where a secret comes from.
pub struct SecretSource<'a> {
    /// Read from this environment variable.
    pub env: Option<&'a str>,
    /// Read from standard input.
    pub stdin: bool,
    /// What to ask for when neither is given and a terminal is attached; `None`: don't ask.
    pub prompt: Option<String>,
}

/// Reads the secret, or `Ok(None)` when none was asked for.
pub fn read(source: SecretSource<'_>) -> Result<Option<Secret>, String> {
    if let Some(var) = source.env {
        return std::env::var(var)
            .map(|v| Some(Secret::new(v)))
            .map_err(|_| format!("environment variable {var} is not set"));
    }
    if source.stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading standard input: {e}"))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        return Ok(Some(Secret::new(text)));
    }
    match source.prompt {
        Some(prompt) if std::io::stdin().is_terminal() => rpassword::prompt_password(prompt)
            .map(|p| Some(Secret::new(p)))
            .map_err(|e| format!("reading the password: {e}")),
        _ => Ok(None),
    }
}
