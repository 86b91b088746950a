//! `eden config setup | check | push | pull | ls | remote-rm`.

use anyhow::{anyhow, bail, Context, Result};

use super::{aws_for, load_profile, ConfigCommand, Global, ProfileFlags};
use crate::aws::elb;
use crate::engine::pool;
use crate::profile::{self, Profile};
use crate::profile_store;

pub(super) async fn config(g: &Global, c: &ConfigCommand) -> Result<i32> {
    match c {
        ConfigCommand::Setup { keys } => setup(g, &keys.to_raw()),
        ConfigCommand::Check { only } => check(g, *only).await,
        ConfigCommand::Push => push(g).await,
        ConfigCommand::Pull => pull(g).await,
        ConfigCommand::Ls => ls(g).await,
        ConfigCommand::RemoteRm => remote_rm(g).await,
    }
}

fn setup(g: &Global, raw: &profile::RawProfile) -> Result<i32> {
    let path = g.config_path();
    if raw.is_empty() {
        bail!("no keys given; pass e.g. --name-prefix dev-api --target-cluster dev (see `eden config setup --help`)");
    }
    let changed = profile::write_keys(&path, g.profile(), raw)?;
    if changed.is_empty() {
        println!(
            "Profile {} in {} already has these values",
            g.profile(),
            path.display()
        );
    }
    for c in changed {
        println!("Set {c} in profile {} ({})", g.profile(), path.display());
    }
    Ok(0)
}

/// Every profile (or only the selected one): its keys, then collisions with the others; when
/// they are valid, each ALB's use (read-only; a failed read is a note, not an error).
async fn check(g: &Global, only: bool) -> Result<i32> {
    let path = g.config_path();
    let names = if only {
        vec![g.profile().to_string()]
    } else {
        profile::profile_names(&path)?
    };
    if names.is_empty() {
        bail!(
            "{} has no profiles; add one with `eden config setup -p NAME …`",
            path.display()
        );
    }
    let mut problems = Vec::new();
    for name in &names {
        match profile::read_raw(&path, name) {
            Ok(raw) => {
                if let Err(p) = Profile::from_raw(name, &raw) {
                    problems.extend(p);
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    // Collisions are judged against every valid profile in the file.
    let valid: Vec<Profile> = profile::profile_names(&path)?
        .iter()
        .filter_map(|n| Profile::from_raw(n, &profile::read_raw(&path, n).ok()?).ok())
        .collect();
    problems.extend(crate::collisions::collisions(&valid, &names));
    if problems.is_empty() {
        println!(
            "No errors found in {} ({})",
            path.display(),
            names.join(", ")
        );
        let checked: Vec<&Profile> = valid.iter().filter(|p| names.contains(&p.name)).collect();
        alb_use(&checked).await;
        return Ok(0);
    }
    for p in &problems {
        eprintln!("{p}");
    }
    eprintln!("Found {} error(s) in {}", problems.len(), path.display());
    Ok(1)
}

async fn push(g: &Global) -> Result<i32> {
    let local = Global {
        remote_profile: false,
        ..g.clone()
    };
    let profile = load_profile(&local, None, &ProfileFlags::default()).await?;
    let aws = aws_for(Some(&profile)).await;
    profile_store::push(&aws, &g.remote_table_name, &profile).await?;
    println!(
        "Pushed profile {} to DynamoDB table {}",
        profile.name, g.remote_table_name
    );
    Ok(0)
}

async fn pull(g: &Global) -> Result<i32> {
    let path = g.config_path();
    let aws = aws_for(None).await;
    let raw = profile_store::fetch(&aws, &g.remote_table_name, g.profile()).await?;
    Profile::from_raw(g.profile(), &raw).map_err(|p| {
        anyhow!(
            "the remote profile {} is not valid: {}",
            g.profile(),
            p.join("; ")
        )
    })?;
    profile::write_keys(&path, g.profile(), &raw)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "Pulled profile {} from table {} into {}",
        g.profile(),
        g.remote_table_name,
        path.display()
    );
    Ok(0)
}

async fn ls(g: &Global) -> Result<i32> {
    let aws = aws_for(None).await;
    let profiles = profile_store::list(&aws, &g.remote_table_name).await?;
    if profiles.is_empty() {
        println!("No profiles in table {}", g.remote_table_name);
    }
    for (name, raw) in profiles {
        println!("Profile {name}:");
        for (k, v) in raw {
            println!("  {k} = {v}");
        }
    }
    Ok(0)
}

async fn remote_rm(g: &Global) -> Result<i32> {
    let aws = aws_for(None).await;
    if profile_store::remove(&aws, &g.remote_table_name, g.profile()).await? {
        println!(
            "Removed profile {} from table {}",
            g.profile(),
            g.remote_table_name
        );
    } else {
        println!(
            "Profile {} was not in table {}; nothing to remove",
            g.profile(),
            g.remote_table_name
        );
    }
    Ok(0)
}

/// Each ALB of the checked profiles' pools: `rules x/limit, target groups y/limit`.
async fn alb_use(profiles: &[&Profile]) {
    let mut arns: Vec<String> = Vec::new();
    for a in profiles.iter().flat_map(|p| p.alb_pool()) {
        if !arns.contains(&a) {
            arns.push(a);
        }
    }
    let Some(first) = profiles.first() else {
        return;
    };
    let aws = aws_for(Some(first)).await;
    let read = async {
        let (pool, limits) = tokio::try_join!(elb::albs(&aws, &arns), elb::account_limits(&aws))?;
        let uses =
            futures::future::try_join_all(pool.iter().map(|a| elb::alb_use(&aws, a, ""))).await?;
        Ok::<_, anyhow::Error>((pool, limits, uses))
    };
    match read.await {
        Ok((pool, limits, uses)) => {
            println!("ALB use ({}):", pool::limits_source(&limits));
            for (alb, u) in pool.iter().zip(&uses) {
                println!("  {}: {}", alb.name(), pool::usage_line(u, &limits));
            }
        }
        Err(e) => eprintln!("note: the ALBs' use was not read ({e:#})"),
    }
}
