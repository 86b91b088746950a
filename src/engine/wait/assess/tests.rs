use super::*;

const NEW: &str = "arn:aws:ecs:r:1:task-definition/dev-api-pr-1:2";
const OLD: &str = "arn:aws:ecs:r:1:task-definition/dev-api-pr-1:1";

fn task(id: &str, td: &str, status: &str, ip: &str) -> TaskView {
    TaskView {
        arn: format!("arn:aws:ecs:r:1:task/dev/{id}"),
        task_definition: Some(td.into()),
        last_status: Some(status.into()),
        desired_status: Some(
            if status == "STOPPED" {
                "STOPPED"
            } else {
                "RUNNING"
            }
            .into(),
        ),
        ip: Some(ip.into()),
        ..TaskView::default()
    }
}

fn target(ip: &str, state: &str) -> TargetState {
    TargetState {
        id: ip.into(),
        port: Some(8080),
        state: state.into(),
        reason: None,
        description: None,
    }
}

fn seen() -> Seen {
    Seen {
        service: ServiceView {
            task_definition: Some(NEW.into()),
            deployed_at: Some(1000.0),
            rollout: Some("IN_PROGRESS".into()),
            desired: 1,
            ..ServiceView::default()
        },
        tasks: vec![task("old", OLD, "RUNNING", "10.0.0.1")],
        targets: vec![target("10.0.0.1", "healthy")],
        targets_read: true,
        dns_insync: true,
        allowed_failures: 0,
    }
}

#[test]
fn ready_once_the_new_target_is_healthy_and_the_old_one_drains() {
    let mut s = seen();
    assert_eq!(
        assess(&s),
        Verdict::Pending(Waiting::StartingTask {
            running: 0,
            desired: 1
        })
    );
    s.tasks.push(task("new", NEW, "RUNNING", "10.0.0.2"));
    assert!(matches!(
        assess(&s),
        Verdict::Pending(Waiting::HealthChecks { ref targets }) if targets == &["10.0.0.2 not registered"]
    ));
    s.targets.push(target("10.0.0.2", "initial"));
    assert!(matches!(
        assess(&s),
        Verdict::Pending(Waiting::HealthChecks { .. })
    ));
    s.targets[1].state = "healthy".into();
    // the old task still takes requests: not yet
    assert!(matches!(
        assess(&s),
        Verdict::Pending(Waiting::OldTargets { .. })
    ));
    s.targets[0].state = "draining".into();
    assert_eq!(
        assess(&s),
        Verdict::Ready,
        "the drain and COMPLETED are not waited for"
    );
    s.dns_insync = false;
    assert_eq!(assess(&s), Verdict::Pending(Waiting::Dns));
}

#[test]
fn the_first_stopped_task_of_the_new_deployment_fails_the_wait() {
    let mut s = seen();
    // an old deployment's stopped task is not ours
    s.tasks.push(task("gone", OLD, "STOPPED", "10.0.0.9"));
    assert!(matches!(assess(&s), Verdict::Pending(_)));
    let mut crashed = task("new", NEW, "STOPPED", "10.0.0.2");
    crashed.stop_code = Some("EssentialContainerExited".into());
    crashed.containers = vec![ContainerExit {
        name: "app".into(),
        essential: true,
        exit_code: Some(1),
        reason: None,
    }];
    s.tasks.push(crashed);
    let Verdict::Failed(WaitFailure::TaskStopped(t)) = assess(&s) else {
        panic!("{:?}", assess(&s))
    };
    assert_eq!(t.task_id, "new");
    assert_eq!(t.containers[0].exit_code, Some(1));
    s.allowed_failures = 1;
    assert!(
        matches!(assess(&s), Verdict::Pending(_)),
        "one stop tolerated"
    );
}

#[test]
fn placement_events_fail_only_when_they_are_the_new_deployments() {
    let mut s = seen();
    let event = "(service dev-api-pr-1) was unable to place a task because no container instance met all of its requirements.";
    s.service.events = vec![Event {
        at: Some(999.0),
        message: event.into(),
    }];
    assert!(
        matches!(assess(&s), Verdict::Pending(_)),
        "older than the deployment"
    );
    s.service.events[0].at = Some(1001.0);
    assert_eq!(
        assess(&s),
        Verdict::Failed(WaitFailure::Unplaceable {
            event: event.into()
        })
    );
    assert!(!starts_no_task("(service x) has reached a steady state."));
}

#[test]
fn a_failed_rollout_fails() {
    let mut s = seen();
    s.service.rollout = Some("FAILED".into());
    assert!(matches!(
        assess(&s),
        Verdict::Failed(WaitFailure::RolloutFailed { .. })
    ));
}

#[test]
fn tasks_without_an_eni_address_fall_back_to_counting_healthy_targets() {
    let mut s = seen();
    let mut t = task("new", NEW, "RUNNING", "");
    t.ip = None;
    s.tasks.push(t);
    s.targets = vec![target("i-0abc", "healthy"), target("i-0def", "initial")];
    assert!(matches!(
        assess(&s),
        Verdict::Pending(Waiting::HealthChecks { .. })
    ));
    s.targets[1].state = "healthy".into();
    assert_eq!(assess(&s), Verdict::Ready);
}
