//! The dashboard's icons: a small set drawn for ftpman, stroke style, inline SVG.

macro_rules! icon {
    ($name:ident, $body:literal) => {
        #[doc = concat!("The ", stringify!($name), " icon.")]
        pub const $name: &str = concat!(
            r#"<svg class="icon" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">"#,
            $body,
            "</svg>"
        );
    };
}

icon!(
    DASHBOARD,
    r#"<rect x="3" y="3" width="7" height="9" rx="1"/><rect x="14" y="3" width="7" height="5" rx="1"/><rect x="14" y="12" width="7" height="9" rx="1"/><rect x="3" y="16" width="7" height="5" rx="1"/>"#
);
icon!(
    SITE,
    r#"<rect x="3" y="4" width="18" height="7" rx="1.5"/><rect x="3" y="13" width="18" height="7" rx="1.5"/><path d="M7 7.5h.01M7 16.5h.01"/>"#
);
icon!(JOB, r#"<path d="M4 7h11l-3-3M20 17H9l3 3"/>"#);
icon!(
    RUN,
    r#"<circle cx="12" cy="12" r="9"/><path d="M10 8.5l5 3.5-5 3.5z"/>"#
);
icon!(
    LOG,
    r#"<path d="M6 3h9l4 4v14H6z"/><path d="M15 3v4h4M9 12h7M9 16h7"/>"#
);
icon!(
    SETTINGS,
    r#"<circle cx="12" cy="12" r="3"/><path d="M12 2v3M12 19v3M2 12h3M19 12h3M4.9 4.9l2.1 2.1M17 17l2.1 2.1M4.9 19.1L7 17M17 7l2.1-2.1"/>"#
);
icon!(UPLOAD, r#"<path d="M12 16V4M7 9l5-5 5 5"/><path d="M4 16v4h16v-4"/>"#);
icon!(MENU, r#"<path d="M4 6h16M4 12h16M4 18h16"/>"#);
