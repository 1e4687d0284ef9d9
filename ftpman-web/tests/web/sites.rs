//! Sites over the API: add (pinning the offered host key), show, edit, test, browse a folder
//! with a hostile name in it, upload (streamed, limited) and download, remove.

use crate::harness::{self, servers};
use crate::support::{Auth, TestServer};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use reqwest::Method;
use serde_json::json;

const HOSTILE: &str = "\"><script>alert(1)<!--.csv";

fn sha(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    harness::hex(&Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sites_are_added_pinned_tested_browsed_and_move_files_both_ways() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = servers();
    let srv = TestServer::start(WebConfig {
        upload_limit: 1 << 20,
        ..WebConfig::default()
    })
    .await;
    let admin = Auth::Token(srv.token("root", UserRole::Admin).await);
    let scratch = harness::scratch("web-sites");
    std::fs::write(scratch.path.join(HOSTILE), b"hostile").expect("write");
    std::fs::create_dir_all(scratch.path.join("in")).expect("mkdir");
    harness::chown_tree(&scratch.path, &s.user);
    let root = scratch.path.display().to_string();
    let sftp = format!("sftp://{}@127.0.0.1:{}{root}", s.user, s.ssh_port);
    let ftp = format!("ftp://{}@127.0.0.1:{}{root}", s.user, s.ftp_port);

    // An SFTP site without a pinned key: refused, with the key the server offers.
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "partner", "url": sftp, "password": s.password})),
        )
        .await;
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (502, "host_key_unknown"),
        "{}",
        a.text
    );
    assert_eq!(a.json()["error"]["offered_host_key"], json!(s.host_key));
    // Bad input names its field.
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "x", "password": "p"})),
        )
        .await;
    assert_eq!(
        (a.status, a.error()),
        (422, ("invalid_input".into(), Some("url".into()))),
        "{}",
        a.text
    );
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "x", "url": ftp, "colour": "red"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("colour")), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "x", "url": ftp, "max_connections": "many"})),
        )
        .await;
    assert_eq!(
        (a.status, a.error().1.as_deref()),
        (422, Some("max_connections")),
        "{}",
        a.text
    );
    let a = srv
        .send(
            &admin,
            Method::POST,
            "/api/v1/sites",
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);

    // Pinned: added; the password is never shown, only that it is set.
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "partner", "url": sftp, "password": s.password, "host_key": s.host_key})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()["has_password"], json!(true));
    assert_eq!(a.json()["host_key"], json!(s.host_key));
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "partner", "url": sftp, "password": s.password, "host_key": s.host_key})),
        )
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (409, "already_exists"));
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "drop", "url": ftp, "password": s.password})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "wrongpw", "url": ftp, "password": "not the password"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);

    let a = srv.call(&admin, Method::GET, "/api/v1/sites", None).await;
    let names: Vec<String> = a
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|v| v["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["drop", "partner", "wrongpw"]);
    let a = srv.call(&admin, Method::GET, "/api/v1/sites/partner", None).await;
    assert_eq!((a.status, a.json()["protocol"].clone()), (200, json!("sftp")));
    let a = srv.call(&admin, Method::GET, "/api/v1/sites/partnr", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (404, "not_found"));
    assert!(a.text.contains("did you mean 'partner'"), "{}", a.text);

    let a = srv
        .call(
            &admin,
            Method::PATCH,
            "/api/v1/sites/partner",
            Some(json!({"max_connections": 2})),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["max_connections"].clone()),
        (200, json!(2)),
        "{}",
        a.text
    );
    let a = srv
        .call(
            &admin,
            Method::PATCH,
            "/api/v1/sites/partner",
            Some(json!({"timeout": "soon"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("timeout")), "{}", a.text);

    // Tests: one that works, one that says what is wrong.
    let a = srv.call(&admin, Method::POST, "/api/v1/sites/partner/test", None).await;
    assert_eq!((a.status, a.json()["ok"].clone()), (200, json!(true)), "{}", a.text);
    assert!(a.json()["root_entries"].as_u64().expect("entries") >= 2);
    let a = srv.call(&admin, Method::POST, "/api/v1/sites/wrongpw/test", None).await;
    assert_eq!((a.status, a.json()["ok"].clone()), (200, json!(false)), "{}", a.text);
    assert!(
        a.json()["advice"].as_str().expect("advice").contains("password"),
        "{}",
        a.text
    );
    // Each site's last test is part of its view; a site never tested has none.
    let a = srv.call(&admin, Method::GET, "/api/v1/sites", None).await;
    let by_name = |n: &str| {
        a.json()
            .as_array()
            .expect("sites")
            .iter()
            .find(|x| x["name"] == n)
            .cloned()
            .expect(n)
    };
    assert_eq!(by_name("partner")["last_test"]["ok"], json!(true), "{}", a.text);
    assert_eq!(by_name("wrongpw")["last_test"]["ok"], json!(false), "{}", a.text);
    assert!(
        by_name("wrongpw")["last_test"]["message"]
            .as_str()
            .is_some_and(|m| !m.contains(&s.password))
    );
    let a = srv.call(&admin, Method::GET, "/api/v1/sites/partner", None).await;
    assert_eq!(a.json()["last_test"]["ok"], json!(true), "{}", a.text);

    // Browsing: the hostile name comes back exactly as the server sent it (JSON-escaped).
    let a = srv
        .call(&admin, Method::GET, "/api/v1/sites/partner/ls?path=/", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let listed = a.json();
    let hostile = listed
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == json!(HOSTILE));
    assert_eq!(hostile.expect("the hostile name is listed")["size"], json!(7));
    let a = srv
        .call(&admin, Method::GET, "/api/v1/sites/partner/ls?path=/nowhere", None)
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (404, "not_found"), "{}", a.text);
    // A file is not a folder to list: bad input, not a server's failure.
    for site in ["partner", "drop"] {
        let path = format!(
            "/api/v1/sites/{site}/ls?path=/{}",
            HOSTILE
                .replace('"', "%22")
                .replace('<', "%3C")
                .replace('>', "%3E")
                .replace('!', "%21")
        );
        let a = srv.call(&admin, Method::GET, &path, None).await;
        if site == "drop" && a.status == 200 {
            // FTP's LIST of a file lists that file.
            continue;
        }
        assert_eq!(
            (a.status, a.error().1.as_deref()),
            (422, Some("path")),
            "{site}: {}",
            a.text
        );
    }

    // Upload into the FTP site's folder: streamed, renamed into place, sizes checked.
    let one: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let two = b"second file".to_vec();
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(one.clone()).file_name("one.bin"),
        )
        .part(
            "file",
            reqwest::multipart::Part::bytes(two.clone()).file_name("two.txt"),
        );
    let a = srv
        .answer(
            "upload",
            srv.request(&admin, Method::POST, "/api/v1/sites/drop/files?path=/in")
                .multipart(form),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(a.json()[0]["bytes"], json!(300_000));
    assert_eq!(std::fs::read(scratch.path.join("in/one.bin")).expect("uploaded"), one);
    assert_eq!(std::fs::read(scratch.path.join("in/two.txt")).expect("uploaded"), two);
    // Again: refused unless asked to replace.
    let form = || {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"new".to_vec()).file_name("two.txt"),
        )
    };
    let a = srv
        .answer(
            "upload again",
            srv.request(&admin, Method::POST, "/api/v1/sites/drop/files?path=/in")
                .multipart(form()),
        )
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (409, "already_exists"), "{}", a.text);
    let a = srv
        .answer(
            "upload overwrite",
            srv.request(&admin, Method::POST, "/api/v1/sites/drop/files?path=/in&overwrite=true")
                .multipart(form()),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    assert_eq!(
        std::fs::read(scratch.path.join("in/two.txt")).expect("replaced"),
        b"new"
    );
    // Over the limit: refused, and nothing left behind (no file, no temporary file).
    let big = vec![1u8; (1 << 20) + 10];
    let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(big).file_name("big.bin"));
    let a = srv
        .answer(
            "upload big",
            srv.request(&admin, Method::POST, "/api/v1/sites/drop/files?path=/in")
                .multipart(form),
        )
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (413, "too_large"), "{}", a.text);
    let mut left: Vec<String> = std::fs::read_dir(scratch.path.join("in"))
        .expect("in")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["one.bin", "two.txt"]);
    // A hostile upload name is refused.
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(b"x".to_vec()).file_name(".."));
    let a = srv
        .answer(
            "upload dots",
            srv.request(&admin, Method::POST, "/api/v1/sites/drop/files?path=/in")
                .multipart(form),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("file")), "{}", a.text);

    // Download through the SFTP site: the same bytes, as an attachment.
    let resp = srv
        .request(&admin, Method::GET, "/api/v1/sites/partner/files?path=/in/one.bin")
        .send()
        .await
        .expect("download");
    assert_eq!(resp.status().as_u16(), 200);
    let disposition = resp.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_eq!(disposition, "attachment; filename*=UTF-8''one.bin");
    assert_eq!(sha(&resp.bytes().await.expect("body")), sha(&one));
    let a = srv
        .call(&admin, Method::GET, "/api/v1/sites/partner/files?path=/in", None)
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("path")), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::GET,
            "/api/v1/sites/partner/files?path=/in/none.bin",
            None,
        )
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (404, "not_found"), "{}", a.text);
    let a = srv.call(&admin, Method::GET, "/api/v1/sites/partner/files", None).await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("path")), "{}", a.text);

    // Removing: a site a job uses is refused; an unused one goes.
    let local = tempfile::tempdir().expect("dir");
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/sites",
            Some(json!({"name": "archive", "url": format!("file://{}", local.path().display())})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/jobs",
            Some(json!({"name": "pull", "from": "partner:/", "to": "archive:/"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let a = srv.call(&admin, Method::DELETE, "/api/v1/sites/partner", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (409, "in_use"), "{}", a.text);
    let a = srv.call(&admin, Method::DELETE, "/api/v1/sites/wrongpw", None).await;
    assert_eq!(a.status, 204, "{}", a.text);
    let a = srv.call(&admin, Method::GET, "/api/v1/sites/wrongpw", None).await;
    assert_eq!(a.status, 404);

    srv.assert_no_secrets(&[&s.password, "not the password"], &[]);
}
