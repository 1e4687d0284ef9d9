//! The local transport's own tests: the sandbox, links, renames, syncs.

use super::*;
use crate::model::SiteUrl;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn links_are_judged_by_where_they_lead_with_and_without_openat2() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"not yours").unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::create_dir_all(r.join("sub/deeper")).unwrap();
    std::fs::write(r.join("ok.txt"), b"fine").unwrap();
    let link = |target: &std::path::Path, at: &str| std::os::unix::fs::symlink(target, r.join(at)).unwrap();
    // Inside: relative, absolute (back into the root), and through a linked folder.
    link(std::path::Path::new("../ok.txt"), "sub/relative.txt");
    link(&r.join("ok.txt"), "sub/absolute.txt");
    link(std::path::Path::new("../../sub"), "sub/deeper/sub-again");
    // Out: climbing past the root, a chain whose last link leaves, a folder link outside.
    link(std::path::Path::new("../../.."), "sub/deeper/up");
    link(&outside.path().join("secret.txt"), "chain-end");
    link(std::path::Path::new("chain-end"), "chain-start");
    link(outside.path(), "out-dir");
    link(&outside.path().join("planted.txt"), "dangling-out");
    link(std::path::Path::new("not-there.txt"), "dangling-in");
    let site = Site::new("l", &SiteUrl::parse(&format!("file://{}", r.display())).unwrap()).unwrap();
    let mut t = LocalTransport::connect(&site).await.unwrap();
    let had_openat2 = OPENAT2.load(std::sync::atomic::Ordering::Relaxed);
    // Both ways of checking must agree (the second is what a kernel without openat2 uses).
    for with_openat2 in [true, false] {
        OPENAT2.store(with_openat2 && had_openat2, std::sync::atomic::Ordering::Relaxed);
        // An absolute link is refused where the kernel judges (it would have to leave the
        // root to follow it), and followed back inside by the real-path check without it.
        let absolute = t.stat("/sub/absolute.txt").await;
        let absolute_read = t.read("/sub/absolute.txt", 0).await.err();
        if with_openat2 && had_openat2 {
            assert!(
                matches!(absolute_read, Some(TransportError::PermissionDenied { .. })),
                "{absolute_read:?}"
            );
            assert!(absolute.is_ok(), "the link itself is there to see");
        } else {
            assert!(absolute_read.is_none(), "{absolute_read:?}");
        }
        for inside in ["/sub/relative.txt", "/sub/deeper/sub-again/relative.txt"] {
            let mut got = String::new();
            let mut reader = t.read(inside, 0).await.unwrap_or_else(|e| panic!("{inside}: {e}"));
            tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut got)
                .await
                .unwrap();
            assert_eq!(got, "fine", "{inside}");
        }
        // Renamed into a folder reached through a link that stays inside.
        std::fs::write(r.join("to-move.txt"), b"m").unwrap();
        t.rename("/to-move.txt", "/sub/deeper/sub-again/moved.txt", false)
            .await
            .unwrap();
        std::fs::remove_file(r.join("sub/moved.txt")).unwrap();
        for out in ["/sub/deeper/up/etc/passwd", "/out-dir/secret.txt", "/out-dir/new.txt"] {
            let err = t.stat(out).await.err().unwrap_or_else(|| panic!("{out} was followed"));
            assert!(matches!(err, TransportError::PermissionDenied { .. }), "{out}: {err}");
        }
        // A link that leads out is, where the kernel judges, seen as the link it is (never
        // followed); the path check refuses it outright.
        match t.stat("/chain-start").await {
            Ok(e) => assert!(with_openat2 && had_openat2 && e.kind == EntryKind::Symlink, "{e:?}"),
            Err(e) => assert!(matches!(e, TransportError::PermissionDenied { .. }), "{e}"),
        }
        assert!(t.read("/chain-start", 0).await.is_err(), "never read through");
        // A new file under a folder that exists inside is fine; through a link that points
        // at nothing yet (outside or not), it is refused: creating it would follow the link.
        assert!(matches!(
            t.stat("/sub/deeper/not-yet.txt").await,
            Err(TransportError::NotFound { .. })
        ));
        for dangling in ["/dangling-out", "/dangling-in"] {
            let mut w = t.write(dangling, 0).await.unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut w, b"x").await.unwrap();
            let err = w
                .finish()
                .await
                .err()
                .unwrap_or_else(|| panic!("{dangling} was written"));
            assert!(
                matches!(err, TransportError::PermissionDenied { .. }),
                "{dangling}: {err}"
            );
        }
        assert!(!outside.path().join("planted.txt").exists());
        // A link that stays inside is read through, but never written through: one planted
        // where a temporary file goes would have ftpman write into the file it names.
        for planted in ["/sub/relative.txt", "/sub/absolute.txt"] {
            let refused = match t.write(planted, 0).await {
                Err(e) => e,
                Ok(mut w) => {
                    tokio::io::AsyncWriteExt::write_all(&mut w, b"overwritten")
                        .await
                        .unwrap();
                    w.finish()
                        .await
                        .err()
                        .unwrap_or_else(|| panic!("{planted} was written through"))
                }
            };
            assert!(
                matches!(refused, TransportError::PermissionDenied { .. }),
                "{planted}: {refused}"
            );
            assert_eq!(std::fs::read(r.join("ok.txt")).unwrap(), b"fine", "{planted}");
        }
    }
    OPENAT2.store(had_openat2, std::sync::atomic::Ordering::Relaxed);
}

#[tokio::test]
async fn every_operation_acts_beneath_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"not yours").unwrap();
    std::fs::create_dir(outside.path().join("dir")).unwrap();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    std::fs::write(r.join("ok.txt"), b"fine").unwrap();
    std::fs::write(r.join("a-file"), b"f").unwrap();
    std::os::unix::fs::symlink(outside.path(), r.join("out-dir")).unwrap();
    let site = Site::new("l", &SiteUrl::parse(&format!("file://{}", r.display())).unwrap()).unwrap();
    let mut t = LocalTransport::connect(&site).await.unwrap();
    let denied = |what: &str, r: TransportResult<()>| match r {
        Err(TransportError::PermissionDenied { .. }) => {}
        other => panic!("{what}: {other:?}"),
    };
    denied("mkdir", t.mkdir_all("/out-dir/new/deeper").await);
    denied("delete", t.delete("/out-dir/secret.txt").await);
    denied("rmdir", t.rmdir("/out-dir/dir").await);
    denied("rename out", t.rename("/ok.txt", "/out-dir/ok.txt", false).await);
    denied("rename in", t.rename("/out-dir/secret.txt", "/stolen.txt", true).await);
    denied("list", t.list("/out-dir").await.map(|_| ()));
    denied("checksum", t.checksum("/out-dir/secret.txt").await.map(|_| ()));
    assert!(!outside.path().join("new").exists() && outside.path().join("dir").is_dir());
    assert_eq!(std::fs::read(outside.path().join("secret.txt")).unwrap(), b"not yours");
    assert!(r.join("ok.txt").exists() && !r.join("stolen.txt").exists());
    // Beneath the root, each works, and says clearly what is in the way.
    t.mkdir_all("/in/2026/12").await.unwrap();
    assert!(r.join("in/2026/12").is_dir());
    let e = t.mkdir_all("/a-file/sub").await.unwrap_err();
    assert!(e.to_string().contains("a-file"), "{e}");
    t.rename("/ok.txt", "/in/2026/12/ok.txt", false).await.unwrap();
    assert!(matches!(
        t.rename("/a-file", "/in/2026/12/ok.txt", false).await,
        Err(TransportError::AlreadyExists { .. })
    ));
    let listed: Vec<String> = t
        .list("/in/2026/12")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(listed, ["ok.txt"]);
    assert_eq!(t.stat("/in/2026/12/ok.txt").await.unwrap().size, 4);
    t.delete("/in/2026/12/ok.txt").await.unwrap();
    t.rmdir("/in/2026/12").await.unwrap();
    assert!(!r.join("in/2026/12").exists());
}

#[tokio::test]
async fn links_out_of_the_root_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"not yours").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("link.txt")).unwrap();
    std::fs::write(root.path().join("ok.txt"), b"fine").unwrap();
    let site = Site::new(
        "l",
        &SiteUrl::parse(&format!("file://{}", root.path().display())).unwrap(),
    )
    .unwrap();
    let mut t = LocalTransport::connect(&site).await.unwrap();
    for path in ["/escape/secret.txt", "/link.txt"] {
        let err = t
            .read(path, 0)
            .await
            .err()
            .expect("a link out of the root must not be followed");
        assert!(matches!(err, TransportError::PermissionDenied { .. }), "{path}: {err}");
        assert!(err.to_string().contains("outside the site's root"), "{err}");
    }
    // The file is opened when first needed: for a small one, at finish.
    let mut w = t.write("/escape/new.txt", 0).await.unwrap();
    w.write_all(b"out").await.unwrap();
    assert!(matches!(
        w.finish().await.err(),
        Some(TransportError::PermissionDenied { .. })
    ));
    assert!(!outside.path().join("new.txt").exists());
    // Nor is a file renamed, or made durable, through one.
    for overwrite in [false, true] {
        assert!(matches!(
            t.rename("/ok.txt", "/escape/moved.txt", overwrite).await,
            Err(TransportError::PermissionDenied { .. })
        ));
    }
    assert!(!outside.path().join("moved.txt").exists());
    assert!(matches!(
        t.make_durable("/escape/secret.txt").await,
        Err(TransportError::PermissionDenied { .. })
    ));
    // Deleting a link that leads out removes the link (where the kernel judges: the name
    // in the root is what goes) or is refused (by the path check); what it names stays.
    match t.delete("/link.txt").await {
        Ok(()) => {
            assert!(!root.path().join("link.txt").exists());
            std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("link.txt")).unwrap();
        }
        Err(e) => assert!(matches!(e, TransportError::PermissionDenied { .. }), "{e}"),
    }
    assert_eq!(std::fs::read(outside.path().join("secret.txt")).unwrap(), b"not yours");
    // Listed, but as links, which the engine does not follow.
    let kinds: Vec<(String, EntryKind)> = t
        .list("/")
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("escape".into(), EntryKind::Symlink),
            ("link.txt".into(), EntryKind::Symlink),
            ("ok.txt".into(), EntryKind::File)
        ]
    );
    let mut ok = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut t.read("/ok.txt", 0).await.unwrap(), &mut ok)
        .await
        .unwrap();
    assert_eq!(ok, "fine");
}
