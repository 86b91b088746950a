//! Placement on the pool of ALBs (pure): each ALB's room against the account's limits, which
//! ALB a create uses, and the refusal when every ALB is full.
//!
//! A preview needs one rule and one target group on its ALB, so an ALB's room is the smaller of
//! its free rules and its free target groups. A new preview goes to the ALB with the most room
//! (the pool's order breaks ties); a preview that already has an ALB stays on it for life: the
//! state's ALB, or (for a create cut short, or the Python eden's) the ALB holding its rule or
//! its target group.

use std::collections::BTreeSet;

use crate::aws::elb::{self, Alb, AlbUse, Limits};
use crate::error::Refusal;

/// What to do when an ALB is full.
pub const WAY_OUT: &str = "delete stale previews (`eden ls`, then `eden delete -p PROFILE --name NAME`, or the action's gc)";

/// How to grow the pool.
pub const ADD_AN_ALB: &str = "append another ALB ARN to master_alb_arn (comma-separated; an ALB with an HTTPS:443 listener and the zone's wildcard certificate, see docs/scaling.md)";

/// One ALB of the pool as round 1 read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub alb: Alb,
    pub usage: AlbUse,
}

/// Where a create's rule goes: the chosen ALB (with the priorities used on its HTTPS listener),
/// then the ALBs with room to try, in order, if a race fills it first (`elb::AlbFull`).
#[derive(Debug, Clone)]
pub struct Placement {
    pub alb: Alb,
    pub used: BTreeSet<i32>,
    /// The hostname's rules found on its ALB (host rule, bypass rule).
    pub found_rules: elb::HostRules,
    pub fallbacks: Vec<(Alb, BTreeSet<i32>)>,
}

/// Free rules and free target groups on one ALB.
pub fn free(u: &AlbUse, l: &Limits) -> (usize, usize) {
    (
        l.rules.saturating_sub(u.rules),
        l.target_groups.saturating_sub(u.target_groups.len()),
    )
}

/// How many more previews the ALB holds: one rule and one target group each.
pub fn room(u: &AlbUse, l: &Limits) -> usize {
    room_for(u, l, 1)
}

/// How many more previews the ALB holds when each takes `rules_each` rules (2 with a bypass
/// rule) and one target group.
pub fn room_for(u: &AlbUse, l: &Limits, rules_each: usize) -> usize {
    let (rules, tgs) = free(u, l);
    (rules / rules_each.max(1)).min(tgs)
}

/// `rules x/limit, target groups y/limit` (`eden doctor`, `eden config check`).
pub fn usage_line(u: &AlbUse, l: &Limits) -> String {
    format!(
        "rules {}/{}, target groups {}/{}",
        u.rules,
        l.rules,
        u.target_groups.len(),
        l.target_groups
    )
}

/// Where the limits came from, for people.
pub fn limits_source(l: &Limits) -> &'static str {
    if l.from_account {
        "limits from DescribeAccountLimits"
    } else {
        "default limits: DescribeAccountLimits was denied"
    }
}

/// Choose the ALB for a create. `pinned`: the state's ALB (a preview never moves);
/// `found_tg`: a target group with this environment's name (a create cut short may have
/// attached it already); `rules_each`: the rules a preview takes (2 with a bypass rule).
pub fn place(
    pool: Vec<Seen>,
    limits: &Limits,
    pinned: Option<&str>,
    found_tg: Option<&str>,
    rules_each: usize,
) -> Result<Placement, Refusal> {
    let attached =
        |s: &Seen| found_tg.is_some_and(|tg| s.usage.target_groups.iter().any(|a| a == tg));
    let home = match pinned {
        Some(arn) => Some(pool.iter().position(|s| s.alb.arn == arn).ok_or_else(|| {
            Refusal::new(
                format!("this preview's load balancer {arn} was not read"),
                "run the create again",
            )
        })?),
        None => pool
            .iter()
            .position(|s| s.usage.host_rules.rule.is_some())
            .or_else(|| pool.iter().position(attached)),
    };
    if let Some(i) = home {
        let s = pool.into_iter().nth(i).expect("a position in the pool");
        let (rules, tgs) = free(&s.usage, limits);
        let found = &s.usage.host_rules;
        let needs_rules = usize::from(found.rule.is_none())
            + usize::from(rules_each > 1 && found.bypass.is_none());
        let needs_tg = !attached(&s);
        if rules < needs_rules || (needs_tg && tgs == 0) {
            return Err(home_full(&s, limits));
        }
        return Ok(Placement {
            alb: s.alb,
            used: s.usage.used,
            found_rules: s.usage.host_rules,
            fallbacks: Vec::new(),
        });
    }
    let mut ranked: Vec<Seen> = pool;
    // stable: among ALBs with as much room, the pool's order decides
    let room = |s: &Seen| room_for(&s.usage, limits, rules_each);
    ranked.sort_by_key(|s| std::cmp::Reverse(room(s)));
    if ranked.first().is_none_or(|s| room(s) == 0) {
        return Err(all_full(&ranked, limits));
    }
    let mut with_room = ranked
        .into_iter()
        .filter(|s| room(s) > 0)
        .map(|s| (s.alb, s.usage.used));
    let (alb, used) = with_room.next().expect("one ALB with room");
    Ok(Placement {
        alb,
        used,
        found_rules: elb::HostRules::default(),
        fallbacks: with_room.collect(),
    })
}

/// The preview's own ALB has no room for what it lacks (it stays there: previews never move).
fn home_full(s: &Seen, l: &Limits) -> Refusal {
    Refusal::new(
        format!(
            "load balancer {} holds this preview but is full ({}; {})",
            s.alb.arn,
            usage_line(&s.usage, l),
            limits_source(l)
        ),
        format!("a preview stays on its ALB: {WAY_OUT}, or raise \"Rules per Application Load Balancer\" in Service Quotas"),
    )
}

/// Every ALB of the pool is full.
pub fn all_full(pool: &[Seen], l: &Limits) -> Refusal {
    let each: Vec<String> = pool
        .iter()
        .map(|s| format!("{}: {}", s.alb.name(), usage_line(&s.usage, l)))
        .collect();
    Refusal::new(
        format!(
            "every ALB of master_alb_arn is full, a preview needing one rule (rules-per-application-load-balancer {}) and one target group (target-groups-per-application-load-balancer {}, a hard limit) — {} ({})",
            l.rules,
            l.target_groups,
            each.join("; "),
            limits_source(l)
        ),
        format!("{ADD_AN_ALB}; or {WAY_OUT}; or raise \"Rules per Application Load Balancer\" in Service Quotas"),
    )
}

/// After `elb::AlbFull` on every ALB tried: the race left no ALB with room.
pub fn raced_full(tried: &[String]) -> Refusal {
    Refusal::new(
        format!(
            "every ALB with room filled up while this create ran (tried {})",
            tried.join(", ")
        ),
        format!("{ADD_AN_ALB}; or {WAY_OUT}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alb(name: &str) -> Alb {
        Alb {
            arn: format!("arn:aws:elasticloadbalancing:r:1:loadbalancer/app/{name}/1"),
            dns_name: format!("{name}.elb"),
            canonical_zone_id: "Z".into(),
            dualstack: false,
            listener_arn: format!("arn:aws:elasticloadbalancing:r:1:listener/app/{name}/1/2"),
            listeners: vec![],
        }
    }

    fn seen(name: &str, rules: usize, tgs: usize) -> Seen {
        Seen {
            alb: alb(name),
            usage: AlbUse {
                rules,
                target_groups: (0..tgs).map(|i| format!("{name}-tg{i}")).collect(),
                host_rules: elb::HostRules::default(),
                used: (1..=rules as i32).collect(),
            },
        }
    }

    const L: Limits = Limits {
        rules: 10,
        target_groups: 8,
        from_account: true,
    };

    #[test]
    fn the_alb_with_the_most_room_wins_and_the_others_follow() {
        let pool = vec![seen("a", 9, 2), seen("b", 3, 7), seen("c", 2, 2)];
        // room: a 1 (rules), b 1 (target groups), c 6
        let p = place(pool, &L, None, None, 1).unwrap();
        assert_eq!(p.alb.name(), "c");
        let rest: Vec<&str> = p.fallbacks.iter().map(|(a, _)| a.name()).collect();
        assert_eq!(rest, ["a", "b"], "ties keep the pool's order");
        assert_eq!(p.used.len(), 2);
    }

    #[test]
    fn a_preview_with_a_bypass_rule_needs_room_for_two_rules() {
        let pool = vec![seen("a", 9, 2), seen("b", 8, 7)];
        // one rule left on a, two on b (which has one target group left)
        assert_eq!(
            place(pool.clone(), &L, None, None, 1).unwrap().alb.name(),
            "a"
        );
        let p = place(pool.clone(), &L, None, None, 2).unwrap();
        assert_eq!((p.alb.name(), p.fallbacks.len()), ("b", 0));
        assert!(place(vec![seen("a", 9, 2)], &L, None, None, 2).is_err());
    }

    #[test]
    fn a_full_pool_is_refused_naming_each_alb_and_the_way_to_grow() {
        let pool = vec![seen("a", 10, 2), seen("b", 3, 8)];
        let err = place(pool, &L, None, None, 1).unwrap_err();
        assert!(
            err.why.contains("a: rules 10/10, target groups 2/8"),
            "{err}"
        );
        assert!(
            err.why.contains("b: rules 3/10, target groups 8/8"),
            "{err}"
        );
        assert!(
            err.fix.contains("append another ALB ARN to master_alb_arn"),
            "{err}"
        );
    }

    #[test]
    fn a_preview_stays_on_its_alb() {
        let pool = vec![seen("a", 9, 7), seen("b", 0, 0)];
        let arn = pool[0].alb.arn.clone();
        let p = place(pool.clone(), &L, Some(&arn), None, 1).unwrap();
        assert_eq!((p.alb.name(), p.fallbacks.len()), ("a", 0));
        // its rule found there (a create cut short): stays, even on a full ALB
        let mut full = pool.clone();
        full[0].usage.rules = 10;
        full[0].usage.host_rules.rule = Some(elb::HostRule {
            arn: "r".into(),
            forwards_to: vec!["a-tg0".into()],
            shape: None,
            priority: Some(1),
        });
        let p = place(full.clone(), &L, None, Some("a-tg0"), 1).unwrap();
        assert_eq!(p.alb.name(), "a");
        // its own ALB full and the rule missing: refused, not moved
        full[0].usage.host_rules.rule = None;
        let err = place(full, &L, Some(&arn), Some("a-tg0"), 1).unwrap_err();
        assert!(err.why.contains("holds this preview"), "{err}");
    }

    #[test]
    fn room_is_the_smaller_of_free_rules_and_free_target_groups() {
        let s = seen("a", 4, 7);
        assert_eq!(free(&s.usage, &L), (6, 1));
        assert_eq!(room(&s.usage, &L), 1);
        assert_eq!(usage_line(&s.usage, &L), "rules 4/10, target groups 7/8");
    }
}
