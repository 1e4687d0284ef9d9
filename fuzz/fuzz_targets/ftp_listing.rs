//! One line of an FTP `LIST` or `MLSD` listing, as a server may send anything: parsed without a
//! panic, and any entry it yields is a name that stays inside the folder listed.
#![no_main]
use ftpman_core::model::{Site, SiteUrl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let url = SiteUrl::parse("ftp://u@127.0.0.1:21/root").expect("url");
    let site = Site::new("fuzz", &url).expect("site");
    for mlsd in [false, true] {
        if let Some(Ok(Some(entry))) = ftpman_core::transport::ftp::parse_listing_line(&site, "/in", line, mlsd) {
            assert!(
                !entry.name.is_empty() && entry.name != "." && entry.name != "..",
                "{line:?}"
            );
            assert!(!entry.name.contains(['/', '\\', '\0']), "{line:?} -> {:?}", entry.name);
            assert_eq!(entry.path, format!("/in/{}", entry.name), "{line:?}");
        }
    }
});
