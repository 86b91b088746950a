//! Fault injection: for every k, fail the k-th AWS call of an operation, then show that the
//! next run converges and that delete leaves nothing behind.

mod common;

use common::*;
use eden::aws::Instrument;
use eden::engine::Action;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_converges_after_any_single_failure() {
    let w = World::new("fc").await;
    let inst = Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let api = w.profile("api");
    let img = w.image("api", "sha-1");
    // Make the table exist, so the baseline is the account eden leaves behind.
    w.warm().await;
    let before = w.snapshot().await;

    inst.reset();
    engine.create(&api, &w.request("pr-9", &img)).await.unwrap();
    let calls = inst.calls().len();
    engine.delete(&api, "pr-9").await.unwrap();
    assert!(calls >= 12, "a create makes {calls} calls");

    let mut hit = Vec::new();
    for k in 1..=calls {
        inst.fail_call(k);
        let failed = engine.create(&api, &w.request("pr-9", &img)).await;
        let op = inst.injected();
        inst.clear_fault();
        if let Some(op) = &op {
            let err = failed.expect_err("an injected fault must fail the create");
            assert!(
                format!("{err:#}").contains("fault injected"),
                "k={k} ({op}): {err:#}"
            );
            hit.push(op.clone());
        }
        let again = engine
            .create(&api, &w.request("pr-9", &img))
            .await
            .unwrap_or_else(|e| panic!("k={k} {op:?}: {e:#}"));
        assert!(matches!(
            again.action,
            Some(Action::Created) | Some(Action::Deployed)
        ));
        verify_environment(&w, "api", "pr-9", &img).await;
        engine
            .delete(&api, "pr-9")
            .await
            .unwrap_or_else(|e| panic!("k={k} {op:?}: {e:#}"));
        assert_eq!(
            w.snapshot().await,
            before,
            "k={k}: fault in {op:?} left something behind"
        );
    }
    assert_eq!(hit.len(), calls, "every call was failed once: {hit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delete_converges_after_any_single_failure() {
    let w = World::new("fd").await;
    let inst = Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let (api, admin) = (w.profile("api"), w.profile("admin"));
    let img = w.image("api", "sha-1");
    w.warm().await;
    // another profile's environment of the same name must survive every failed delete
    engine
        .create(&admin, &w.request("pr-5", &w.image("admin", "sha-1")))
        .await
        .unwrap();
    let before = w.snapshot().await;

    engine.create(&api, &w.request("pr-5", &img)).await.unwrap();
    inst.reset();
    engine.delete(&api, "pr-5").await.unwrap();
    let calls = inst.calls().len();

    for k in 1..=calls {
        engine.create(&api, &w.request("pr-5", &img)).await.unwrap();
        inst.fail_call(k);
        let failed = engine.delete(&api, "pr-5").await;
        let op = inst.injected();
        inst.clear_fault();
        if op.is_some() {
            assert!(
                failed.is_err(),
                "k={k} {op:?}: the fault must fail the delete"
            );
        }
        engine
            .delete(&api, "pr-5")
            .await
            .unwrap_or_else(|e| panic!("k={k} {op:?}: {e:#}"));
        assert_eq!(
            w.snapshot().await,
            before,
            "k={k}: fault in {op:?} left something behind"
        );
        verify_environment(&w, "admin", "pr-5", &w.image("admin", "sha-1")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deploy_converges_after_any_single_failure() {
    let w = World::new("fy").await;
    let inst = Instrument::new();
    let engine = w.engine(Some(inst.clone())).await;
    let api = w.profile("api");
    engine
        .create(&api, &w.request("pr-3", &w.image("api", "sha-0")))
        .await
        .unwrap();
    inst.reset();
    engine
        .create(&api, &w.request("pr-3", &w.image("api", "sha-1")))
        .await
        .unwrap();
    let calls = inst.calls().len();
    for k in 1..=calls {
        let tag = if k % 2 == 0 { "sha-1" } else { "sha-2" };
        inst.fail_call(k);
        let failed = engine
            .create(&api, &w.request("pr-3", &w.image("api", tag)))
            .await;
        let op = inst.injected();
        inst.clear_fault();
        if op.is_some() {
            assert!(failed.is_err(), "k={k} {op:?}");
        }
        let out = engine
            .create(&api, &w.request("pr-3", &w.image("api", tag)))
            .await
            .unwrap_or_else(|e| panic!("k={k} {op:?}: {e:#}"));
        assert_eq!(out.action, Some(Action::Deployed), "k={k}");
        verify_environment(&w, "api", "pr-3", &w.image("api", tag)).await;
    }
    engine.delete(&api, "pr-3").await.unwrap();
}
