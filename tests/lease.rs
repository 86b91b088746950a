//! The lease: a live holder's heartbeat keeps waiters out, a dead holder delays the next run by
//! at most 30 s, a lost lease stops its run before its next request, `eden unlock` removes a
//! lease by hand. On tokio's paused clock: no test waits 20 real seconds.

mod common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::*;
use eden::engine::lease;
use eden::engine::LeaseSettings;
use eden::engine::{unlock, Action};
use tokio::time::Instant;

const BOUND: Duration = Duration::from_secs(30);

async fn item(w: &World, profile: &str, env: &str) -> Option<std::collections::HashMap<String, V>> {
    w.aws
        .dynamodb
        .get_item()
        .table_name(&w.table)
        .key("type", V::S(profile.into()))
        .key("name", V::S(env.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

fn s(item: &std::collections::HashMap<String, V>, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_live_holder_keeps_waiters_out_and_a_dead_one_delays_the_next_run_at_most_30_s() {
    let w = World::paused("la").await;
    w.warm().await;
    let before = w.snapshot().await;
    let holder = w.engine(None).await;
    let mut waiter = w.engine(None).await;
    waiter.lease.wait = Duration::from_secs(90);

    let held = lease::acquire(&holder, "api", "pr-1").await.unwrap();
    let rvn0 = s(&item(&w, "api", "pr-1").await.unwrap(), "lease_rvn");

    // A live holder: its heartbeat renews every 5 s (a new RVN), so the waiter never takes over.
    let t = Instant::now();
    let err = waiter
        .create(
            &w.profile("api"),
            &w.request("pr-1", &w.image("api", "sha-1")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, eden::engine::Error::Busy { retry_after, .. } if *retry_after == LeaseSettings::default().duration),
        "{err:#}"
    );
    assert!(
        format!("{err:#}").contains("eden unlock -p api --name pr-1"),
        "{err:#}"
    );
    assert!(t.elapsed() >= Duration::from_secs(90));
    assert!(held.renewals() >= 17, "renewals: {}", held.renewals());
    let now = item(&w, "api", "pr-1").await.unwrap();
    assert_eq!(s(&now, "lease_owner"), held.owner);
    assert_ne!(
        s(&now, "lease_rvn"),
        rvn0,
        "the RVN changes on every renewal"
    );
    held.check().unwrap();

    // The holder dies (its heartbeat stops with it): the next run waits one lease duration.
    let owner = held.owner.clone();
    drop(held);
    let died = Instant::now();
    let out = waiter
        .create(
            &w.profile("api"),
            &w.request("pr-1", &w.image("api", "sha-1")),
        )
        .await
        .unwrap();
    let delay = died.elapsed();
    assert_eq!(out.action, Some(Action::Created));
    assert!(
        delay >= Duration::from_secs(20) && delay <= BOUND,
        "a dead run delayed the next by {delay:?}"
    );
    let wait = out.steps.iter().find(|s| s.step == "lease-wait").unwrap();
    assert!(wait.detail.contains(&owner), "{}", wait.detail);
    verify_environment(&w, "api", "pr-1", &w.image("api", "sha-1")).await;
    waiter.delete(&w.profile("api"), "pr-1").await.unwrap();
    assert_eq!(w.snapshot().await, before);
}

#[tokio::test(start_paused = true)]
async fn a_lease_from_an_eden_without_heartbeats_is_taken_over_after_one_duration() {
    let w = World::paused("lo").await;
    w.warm().await;
    let engine = w.engine(None).await;
    w.aws
        .dynamodb
        .put_item()
        .table_name(&w.table)
        .item("type", V::S("api".into()))
        .item("name", V::S("pr-2".into()))
        .item("lease_owner", V::S("old-eden".into()))
        .item("lease_expires", V::N("99999999999".into()))
        .send()
        .await
        .unwrap();
    let t = Instant::now();
    engine
        .create(
            &w.profile("api"),
            &w.request("pr-2", &w.image("api", "sha-1")),
        )
        .await
        .unwrap();
    assert!(t.elapsed() >= Duration::from_secs(20) && t.elapsed() <= BOUND);
    let it = item(&w, "api", "pr-2").await.unwrap();
    assert!(!it.contains_key("lease_expires") && !it.contains_key("lease_owner"));
    verify_environment(&w, "api", "pr-2", &w.image("api", "sha-1")).await;
    engine.delete(&w.profile("api"), "pr-2").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_refuses_every_later_request_of_its_run() {
    let w = World::paused("ll").await;
    w.warm().await;
    let engine = w.engine(None).await;
    let held = lease::acquire(&engine, "api", "pr-3").await.unwrap();
    let guarded = held.guard(&engine.aws);
    // Allowed while the lease is ours.
    guarded
        .dynamodb
        .describe_table()
        .table_name(&w.table)
        .send()
        .await
        .unwrap();

    // An operator removes it; the next heartbeat finds out.
    let removed = unlock::run(&engine, "api", "pr-3").await.unwrap().unwrap();
    assert_eq!(removed.owner, held.owner);
    assert!(removed.looked_alive && removed.item_deleted);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let lost = held.check().unwrap_err();
    assert!(lost.to_string().contains("eden unlock"), "{lost}");

    let err = guarded
        .dynamodb
        .put_item()
        .table_name(&w.table)
        .item("type", V::S("api".into()))
        .item("name", V::S("pr-3".into()))
        .send()
        .await
        .unwrap_err();
    let msg = eden::aws::describe(&err);
    assert!(msg.contains("the lease on api/pr-3 was lost"), "{msg}");
    assert!(
        item(&w, "api", "pr-3").await.is_none(),
        "nothing was written"
    );
    // and the final write refuses too
    assert!(held.remove(&engine.aws).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_run_that_cannot_renew_stops_trusting_its_lease_before_a_waiter_could_take_it() {
    let w = World::paused("lr").await;
    w.warm().await;
    let inst = eden::aws::Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let held = lease::acquire(&engine, "api", "pr-4").await.unwrap();
    // Every later request fails (the network is gone): no renewal gets through.
    inst.die_at(1);
    tokio::time::sleep(Duration::from_secs(14)).await;
    held.check().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let err = held.check().unwrap_err();
    assert!(err.to_string().contains("could not be renewed"), "{err}");
    inst.clear_fault();
    drop(held);
    let _ = unlock::run(&engine, "api", "pr-4").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlock_removes_only_the_lease_and_says_who_held_it() {
    let w = World::new("lu").await;
    let engine = w.engine(None).await;
    let api = w.profile("api");
    engine
        .create(&api, &w.request("pr-5", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let state = item(&w, "api", "pr-5").await.unwrap();

    // No lease: says so, exit 0.
    let home = tempfile::tempdir().unwrap();
    let cfg = w.write_config(home.path());
    let cfg = cfg.to_str().unwrap();
    let table = w.table.clone();
    let cli = |args: &[&str]| {
        let mut all = vec!["-c", cfg, "--remote-table-name", &table];
        all.extend_from_slice(args);
        eden_cli(home.path(), &all)
    };
    let (code, out, err) = cli(&["unlock", "-p", "api", "--name", "pr-5"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("has no lease"), "{out}");

    // A dead run's lease on a complete environment: removed, the state untouched.
    let since = lease::now_secs() - 600.0;
    w.aws
        .dynamodb
        .update_item()
        .table_name(&w.table)
        .key("type", V::S("api".into()))
        .key("name", V::S("pr-5".into()))
        .update_expression("SET lease_owner = :o, lease_rvn = :r, lease_duration_ms = :d, lease_since = :s, lease_renewed = :s")
        .expression_attribute_values(":o", V::S("runner-7:42:00ff".into()))
        .expression_attribute_values(":r", V::S("rvn-abc".into()))
        .expression_attribute_values(":d", V::N("20000".into()))
        .expression_attribute_values(":s", V::N(format!("{since:.3}")))
        .send()
        .await
        .unwrap();
    let (code, out, err) = cli(&["unlock", "-p", "api", "--name", "pr-5"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "runner-7:42:00ff",
        "rvn-abc",
        "looked dead",
        "10 min ago",
        "state was left",
    ] {
        assert!(out.contains(want), "missing {want:?} in {out}");
    }
    assert!(out.contains(&eden::engine::rfc3339(since)), "{out}");
    assert_eq!(item(&w, "api", "pr-5").await.unwrap(), state);

    // An item that is only a lease (a run died before writing state): deleted.
    let now = lease::now_secs();
    w.aws
        .dynamodb
        .put_item()
        .table_name(&w.table)
        .item("type", V::S("api".into()))
        .item("name", V::S("pr-6".into()))
        .item("kind", V::S("environment".into()))
        .item("lease_owner", V::S("runner-8:7:11aa".into()))
        .item("lease_rvn", V::S("rvn-live".into()))
        .item("lease_since", V::N(format!("{now:.3}")))
        .item("lease_renewed", V::N(format!("{now:.3}")))
        .send()
        .await
        .unwrap();
    let (code, out, err) = cli(&["unlock", "-p", "api", "--name", "pr-6", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["unlocked"]["owner"], "runner-8:7:11aa");
    assert_eq!(v["unlocked"]["looked_alive"], true);
    assert_eq!(v["unlocked"]["item_deleted"], true);
    assert!(item(&w, "api", "pr-6").await.is_none());

    engine.delete(&api, "pr-5").await.unwrap();
}
