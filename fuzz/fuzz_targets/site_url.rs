//! A site URL as a user or a program gives it: refused with a field named, or parsed into parts
//! that never hold a password and whose root has no `..`; a parsed site writes a URL that parses
//! back to the same parts.
#![no_main]
use ftpman_core::model::{Site, SiteUrl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match SiteUrl::parse(text) {
        Err(e) => assert!(!e.field.is_empty()),
        Ok(u) => {
            assert!(!u.root.split('/').any(|seg| seg == ".."), "{text:?} -> {:?}", u.root);
            if let Ok(site) = Site::new("fuzz", &u)
                && let Ok(again) = SiteUrl::parse(&site.url())
            {
                assert_eq!((again.protocol, again.port), (u.protocol, u.port), "{text:?}");
            }
        }
    }
});
