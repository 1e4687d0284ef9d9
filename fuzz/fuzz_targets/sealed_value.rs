//! A sealed value as read from a database someone may have tampered with: opened only when it is
//! exactly what was sealed with this key, refused otherwise, never a panic.
#![no_main]
use ftpman_core::secrets::Cipher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cipher = Cipher::new(&[9u8; 32]);
    let text = String::from_utf8_lossy(data);
    let _ = cipher.open(&text, "fuzz");
    // What it seals, it opens to the same bytes; flipping any character breaks it.
    let sealed = cipher.seal(data);
    assert_eq!(cipher.open(&sealed, "fuzz").ok().as_deref(), Some(data));
});
