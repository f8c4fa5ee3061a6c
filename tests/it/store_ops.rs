//! The database's own operations from the command line: an online SQLite backup that restores,
//! and moving a running installation from SQLite into PostgreSQL.

use crate::cli::consentry;
use crate::harness::*;
use serde_json::json;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `consentry backup --to FILE` copies the database while the provider serves; a provider
/// started on the copy (with the same keys folder) knows its clients, users and tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_into_a_working_provider() {
    let s = TestServer::start_with(|c| c.database_url = None).await;
    let client = s.client(json!({})).await;
    s.user("alice").await;
    let tokens = tokens_for(&s, &client, "alice").await;
    let data = s.provider.config.data_dir.clone();
    let copy = tempfile::tempdir().unwrap();
    let file = copy.path().join("consentry.sqlite");
    ok(&consentry(
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            file.to_str().unwrap(),
        ],
        None,
    ));
    // A second backup to the same file is refused rather than overwriting it.
    let again = consentry(
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!again.status.success());
    let keys = copy.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for entry in std::fs::read_dir(data.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
    }
    // The same installation, restored: the same issuer, whatever port it listens on now.
    let issuer = s.provider.config.issuer();
    drop(s);
    let restored = TestServer::start_in(copy, move |c| {
        c.database_url = None;
        c.issuer = Some(issuer);
    })
    .await;
    let info = restored
        .introspect(&client, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["active"], true, "{info}");
    let (status, body) = restored
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
}

/// `consentry migrate-store` moves an installation from SQLite into PostgreSQL: a flow started
/// before the move (a code not yet redeemed, a refresh token) completes after it, on a
/// provider running on PostgreSQL with the same data folder (its keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_started_before_a_move_to_postgres_completes_after_it() {
    let s = TestServer::start_with(|c| c.database_url = None).await;
    let client = s.client(json!({})).await;
    s.user("alice").await;
    let earlier = tokens_for(&s, &client, "alice").await;
    let (code, verifier) = code_for(&s, &client, "alice").await;
    let issuer = s.provider.config.issuer();
    let dir = s.stop().await;
    let target = new_postgres_schema().await;
    let sqlite = format!("sqlite:{}", dir.path().join("consentry.sqlite").display());
    let out = ok(&consentry(
        &["migrate-store", "--from", &sqlite, "--to", &target],
        None,
    ));
    assert!(out.contains("authorization_codes: "), "{out}");
    // Into a database that already holds rows: refused, nothing overwritten.
    let again = consentry(&["migrate-store", "--from", &sqlite, "--to", &target], None);
    assert!(!again.status.success());
    let moved = TestServer::start_in(dir, move |c| {
        c.database_url = Some(target);
        c.issuer = Some(issuer);
    })
    .await;
    assert!(moved.provider.store.sqlite_path().is_none());
    let (status, body) = moved.exchange_code(&client, &code, &verifier).await;
    assert_eq!(status, 200, "the code issued before the move: {body}");
    let (status, body) = moved
        .refresh(&client, earlier["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        status, 200,
        "the refresh token issued before the move: {body}"
    );
}
