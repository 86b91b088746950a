//! Faults as they happen: the process dies at its k-th AWS request — that request and every
//! later one fail, the lease's heartbeat included (an SDK interceptor, `Instrument::die_at`). For
//! every k of create, deploy and delete, a fresh run (a new process: another engine, the dead
//! run's lease left in place) converges: exactly the intended environment, nothing leaked,
//! nothing lost, and it takes the dead run's lease over within 30 s.
//!
//! On tokio's paused clock, with a virtual 1.5 s per request and a heartbeat every second, so
//! the heartbeat's renewals are among the requests that die, and the 20 s lease waits cost no
//! real time.
//!
//! Below them, the older model: one call fails and the run goes on (its error path releases the
//! lease and restores the state item), then the next run converges.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use eden::aws::Instrument;
use eden::engine::{Action, Engine, Outcome};
use tokio::time::Instant;

/// A dead run delays the next one by at most this.
const BOUND: Duration = Duration::from_secs(30);
const LATENCY: Duration = Duration::from_millis(1500);

struct Rig {
    w: World,
    /// The process that dies, and what its requests do.
    dying: Engine,
    inst: Arc<Instrument>,
    /// The next process, and its requests.
    fresh: Engine,
    seen: Arc<Instrument>,
}

async fn rig(tag: &str) -> Rig {
    let w = World::paused(tag).await;
    let engine = |inst: Arc<Instrument>| {
        let table = w.table.clone();
        async move {
            let aws = paused::offloaded_with_latency(&aws(Some(inst)).await, LATENCY);
            let mut e = Engine::new(aws, table);
            e.lease.wait = Duration::from_secs(120);
            // renewed every second (not 5 s), so even a deploy's few rounds include heartbeats
            e.lease.heartbeat = Duration::from_secs(1);
            e
        }
    };
    let (inst, seen) = (Instrument::new(), Instrument::new());
    Rig {
        dying: engine(inst.clone()).await,
        fresh: engine(seen.clone()).await,
        inst,
        seen,
        w,
    }
}

impl Rig {
    /// Kill the process at its k-th request during `run`; returns when it died and the request.
    async fn die_at<F, Fut>(&self, k: usize, run: F) -> (Instant, String)
    where
        F: FnOnce(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<Outcome, eden::engine::Error>>,
    {
        self.inst.die_at(k);
        let result = run(self.dying.clone()).await;
        let died = self.inst.died_at();
        let op = self.inst.injected();
        self.inst.clear_fault();
        let (Some(died), Some(op)) = (died, op) else {
            panic!("k={k}: the run ended before its k-th request: {result:?}")
        };
        let err = result.expect_err("a run that died cannot succeed");
        assert!(
            format!("{err:#}").contains("fault injected"),
            "k={k} ({op}): {err:#}"
        );
        (died, op)
    }

    /// The next run, in a fresh process: it converges, and if the dead run left its lease, it
    /// waits one lease duration and takes it over, within the bound.
    async fn next<F, Fut>(&self, k: usize, op: &str, died: Instant, run: F) -> Outcome
    where
        F: FnOnce(Engine) -> Fut,
        Fut: std::future::Future<Output = Result<Outcome, eden::engine::Error>>,
    {
        let leased = self.leased("pr-1").await;
        self.seen.reset();
        let out = run(self.fresh.clone())
            .await
            .unwrap_or_else(|e| panic!("k={k} ({op}): the next run failed: {e:#}"));
        // its lease: the first UpdateItem that succeeded
        let took = self
            .seen
            .calls()
            .into_iter()
            .find(|c| c.operation == "DynamoDB.UpdateItem" && !c.failed)
            .expect("the next run took the lease")
            .ended;
        let delay = took - died;
        assert!(
            delay <= BOUND,
            "k={k} ({op}): the dead run delayed the next by {delay:?}"
        );
        if leased {
            assert!(
                delay >= Duration::from_secs(20),
                "k={k} ({op}): a live-looking lease was taken after {delay:?}"
            );
            assert!(out.steps.iter().any(|s| s.step == "lease-wait"), "k={k}");
        }
        out
    }

    /// Does the state item (api/env) hold a lease? (an independent read)
    async fn leased(&self, env: &str) -> bool {
        use aws_sdk_dynamodb::types::AttributeValue as V;
        self.w
            .aws
            .dynamodb
            .get_item()
            .table_name(&self.w.table)
            .key("type", V::S("api".into()))
            .key("name", V::S(env.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .is_some_and(|i| i.contains_key("lease_owner"))
    }

    /// Requests of the last clean run, and how many renewed the lease (heartbeats).
    fn baseline(&self) -> (usize, usize) {
        let ops = self.inst.started_operations();
        let updates = ops.iter().filter(|o| *o == "DynamoDB.UpdateItem").count();
        (ops.len(), updates.saturating_sub(1))
    }
}

#[tokio::test(start_paused = true)]
async fn create_converges_after_the_process_dies_at_any_request() {
    let r = rig("dc").await;
    let (api, img) = (r.w.profile("api"), r.w.image("api", "sha-1"));
    let req = r.w.request("pr-1", &img);
    r.w.warm().await;
    let before = r.w.snapshot().await;

    r.inst.reset();
    r.dying.create(&api, &req).await.unwrap();
    let (requests, heartbeats) = r.baseline();
    assert!(
        requests >= 15 && heartbeats >= 1,
        "{requests} requests, {heartbeats} heartbeats"
    );
    r.fresh.delete(&api, "pr-1").await.unwrap();
    assert_eq!(r.w.snapshot().await, before);

    let mut leased = 0;
    for k in 1..=requests {
        let (died, op) = r
            .die_at(k, |e| {
                let (api, req) = (&api, &req);
                async move { e.create(api, req).await }
            })
            .await;
        leased += usize::from(r.leased("pr-1").await);
        let out = r
            .next(k, &op, died, |e| {
                let (api, req) = (&api, &req);
                async move { e.create(api, req).await }
            })
            .await;
        assert!(matches!(
            out.action,
            Some(Action::Created | Action::Deployed)
        ));
        verify_environment(&r.w, "api", "pr-1", &img).await;
        r.fresh.delete(&api, "pr-1").await.unwrap();
        assert_eq!(
            r.w.snapshot().await,
            before,
            "k={k}: death at {op} left something behind"
        );
    }
    assert!(
        leased + 2 >= requests,
        "most deaths leave a lease ({leased} of {requests})"
    );
}

#[tokio::test(start_paused = true)]
async fn deploy_converges_after_the_process_dies_at_any_request() {
    let r = rig("dy").await;
    let api = r.w.profile("api");
    r.fresh
        .create(&api, &r.w.request("pr-1", &r.w.image("api", "sha-0")))
        .await
        .unwrap();
    r.inst.reset();
    r.dying
        .create(&api, &r.w.request("pr-1", &r.w.image("api", "sha-1")))
        .await
        .unwrap();
    let (requests, heartbeats) = r.baseline();
    assert!(
        requests >= 8 && heartbeats >= 1,
        "{requests} requests, {heartbeats} heartbeats"
    );
    for k in 1..=requests {
        let img = r.w.image("api", if k % 2 == 0 { "sha-1" } else { "sha-2" });
        let req = r.w.request("pr-1", &img);
        let (died, op) = r
            .die_at(k, |e| {
                let (api, req) = (&api, &req);
                async move { e.create(api, req).await }
            })
            .await;
        let out = r
            .next(k, &op, died, |e| {
                let (api, req) = (&api, &req);
                async move { e.create(api, req).await }
            })
            .await;
        assert_eq!(out.action, Some(Action::Deployed), "k={k} ({op})");
        verify_environment(&r.w, "api", "pr-1", &img).await;
    }
    r.fresh.delete(&api, "pr-1").await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn delete_converges_after_the_process_dies_at_any_request() {
    let r = rig("dd").await;
    let (api, admin) = (r.w.profile("api"), r.w.profile("admin"));
    let img = r.w.image("api", "sha-1");
    r.w.warm().await;
    // another profile's environment of the same name must survive every death
    r.fresh
        .create(&admin, &r.w.request("pr-1", &r.w.image("admin", "sha-1")))
        .await
        .unwrap();
    let before = r.w.snapshot().await;

    r.fresh
        .create(&api, &r.w.request("pr-1", &img))
        .await
        .unwrap();
    r.inst.reset();
    r.dying.delete(&api, "pr-1").await.unwrap();
    let (requests, heartbeats) = r.baseline();
    assert!(
        requests >= 10 && heartbeats >= 1,
        "{requests} requests, {heartbeats} heartbeats"
    );

    for k in 1..=requests {
        r.fresh
            .create(&api, &r.w.request("pr-1", &img))
            .await
            .unwrap();
        let (died, op) = r
            .die_at(k, |e| {
                let api = &api;
                async move { e.delete(api, "pr-1").await }
            })
            .await;
        let out = r
            .next(k, &op, died, |e| {
                let api = &api;
                async move { e.delete(api, "pr-1").await }
            })
            .await;
        assert!(
            matches!(out.action, Some(Action::Deleted | Action::Absent)),
            "k={k}"
        );
        assert_eq!(
            r.w.snapshot().await,
            before,
            "k={k}: death at {op} left something behind"
        );
        verify_environment(&r.w, "admin", "pr-1", &r.w.image("admin", "sha-1")).await;
    }
}

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

/// Retiring revisions beyond `keep_revisions` (best effort: a failure is logged).
const RETIRING: [&str; 2] = ["ECS.DeregisterTaskDefinition", "ECS.DeleteTaskDefinitions"];

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
        if op.is_some() && failed.is_ok() {
            // Only retiring old revisions may fail without failing the deploy: it is logged
            // and left to the next deploy. Every call the deploy needs fails it.
            let op = op.as_deref().unwrap_or_default();
            assert!(
                RETIRING.contains(&op),
                "k={k} {op:?}: the fault must fail the deploy"
            );
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
