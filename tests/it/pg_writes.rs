//! PostgreSQL group commit: many write jobs share one transaction, each in its own savepoint.
//! A job that fails keeps nothing and harms none of the others; a deadlock between two nodes'
//! transactions costs a retry, never an error.

use crate::harness::new_postgres_schema;
use consentry::store::users::User;
use consentry::store::{Location, PostgresOptions, Store, StoreError};
use std::time::Duration;

async fn open() -> (Location, Store) {
    let location = Location::Postgres(new_postgres_schema().await);
    let store = Store::open_at(&location, &PostgresOptions::default()).unwrap();
    (location, store)
}

fn user(id: &str) -> User {
    User {
        id: id.into(),
        username: None,
        password_hash: None,
        claims: serde_json::Map::new(),
        managed_by_client: None,
        client_user_id: None,
        created_at: 0,
    }
}

async fn exists(store: &Store, id: &str) -> bool {
    let id = id.to_string();
    store
        .read(move |tx| tx.users().get(&id))
        .await
        .unwrap()
        .is_some()
}

/// Concurrent writes, committed together, where some fail (a duplicate key, a job that refuses
/// after writing): each failure is its caller's alone, and everything else commits. The
/// refusals run once among successes only (no failed statement), once among duplicates too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_jobs_committed_together_with_others_keep_nothing_and_harm_none() {
    let (_, store) = open().await;
    store
        .write(|tx| tx.users().insert(&user("taken")))
        .await
        .unwrap();
    for (round, kinds) in [(0, 2), (1, 3)] {
        let mut jobs = tokio::task::JoinSet::new();
        for i in 0..60 {
            let store = store.clone();
            jobs.spawn(async move {
                let out = match i % kinds {
                    0 => {
                        store
                            .write(move |tx| tx.users().insert(&user(&format!("new-{round}-{i}"))))
                            .await
                    }
                    1 => {
                        store
                            .write(move |tx| {
                                tx.users().insert(&user(&format!("refused-{round}-{i}")))?;
                                Err(StoreError::Corrupt("the job refuses after writing".into()))
                            })
                            .await
                    }
                    _ => store.write(|tx| tx.users().insert(&user("taken"))).await,
                };
                (i, out)
            });
        }
        while let Some(done) = jobs.join_next().await {
            let (i, out) = done.unwrap();
            match i % kinds {
                0 => assert!(out.is_ok(), "job {i}: {out:?}"),
                1 => assert!(
                    matches!(out, Err(StoreError::Corrupt(_))),
                    "job {i}: {out:?}"
                ),
                _ => assert!(matches!(out, Err(StoreError::Conflict)), "job {i}: {out:?}"),
            }
        }
        for i in 0..60 {
            let (new, refused) = (format!("new-{round}-{i}"), format!("refused-{round}-{i}"));
            match i % kinds {
                0 => assert!(exists(&store, &new).await, "{new} committed"),
                1 => assert!(!exists(&store, &refused).await, "{refused} rolled back"),
                _ => {}
            }
        }
    }
}

/// RFC 7523 §3 / RFC 9449 §11.1: a JWT id is accepted once. Concurrent first uses, even when
/// committed together, accept exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_jti_sent_many_times_at_once_is_accepted_once() {
    let (_, store) = open().await;
    let mut jobs = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let store = store.clone();
        jobs.spawn(async move {
            store
                .write(|tx| tx.replay().first_use("assertion", "jti-1", i64::MAX))
                .await
                .unwrap()
        });
    }
    let mut accepted = 0;
    while let Some(first) = jobs.join_next().await {
        accepted += usize::from(first.unwrap());
    }
    assert_eq!(accepted, 1);
}

/// Two nodes whose transactions lock the same rows in opposite orders deadlock; PostgreSQL
/// ends one of them, and that node runs its job again: both writers succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deadlock_between_two_nodes_is_retried_not_reported() {
    let (location, a) = open().await;
    let b = Store::open_at(&location, &PostgresOptions::default()).unwrap();
    for id in ["left", "right"] {
        a.write(move |tx| tx.users().insert(&user(id)))
            .await
            .unwrap();
    }
    // Each deletes one row, waits for the other node to lock the other row, then deletes it.
    let crossed = |first: &'static str, second: &'static str| {
        move |tx: &consentry::store::Tx<'_>| {
            let gone = tx.users().delete(first)?;
            std::thread::sleep(Duration::from_millis(300));
            Ok((gone, tx.users().delete(second)?))
        }
    };
    let on_a = tokio::spawn(async move { a.write(crossed("left", "right")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let on_b = b.write(crossed("right", "left")).await;
    let on_a = on_a.await.unwrap();
    let (on_a, on_b) = (on_a.unwrap(), on_b.unwrap());
    // Whoever ran again found both rows already deleted by the other.
    let deleted = [on_a.0, on_a.1, on_b.0, on_b.1]
        .iter()
        .filter(|d| **d)
        .count();
    assert_eq!(deleted, 2, "each row deleted once: {on_a:?} {on_b:?}");
    assert!(!exists(&b, "left").await && !exists(&b, "right").await);
}
