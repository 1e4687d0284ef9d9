//! A server's `HASH` reply: any text gives a checksum of hex digits or none, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some(c) = ftpman_core::transport::ftp::hash_reply(&text) {
        assert!(!c.hex.is_empty() && c.hex.chars().all(|h| h.is_ascii_hexdigit() && !h.is_ascii_uppercase()));
    }
});
