//! What runs beside the main chain: the Route 53 alias and the environments file. Neither
//! depends on anything the chain makes.

use std::time::Instant;

use anyhow::Result;

use super::super::endpoints_file;
use super::Plan;
use crate::aws::{dns, elb};

impl Plan<'_> {
    /// DNS and the environments file depend on nothing else: they run beside the main chain.
    /// `alb`: the preview's ALB, which its alias points at.
    pub(super) async fn side_effects(
        &self,
        alb: &elb::Alb,
        hostname: &str,
        t: Instant,
        file_step: &str,
    ) -> Result<Vec<String>> {
        let (records, file) = tokio::join!(self.side_dns(alb, hostname, t), self.file(hostname));
        let records = records?;
        if file? {
            self.steps.done(t, "environments-file", file_step);
        }
        Ok(records)
    }

    /// The alias to `alb` (its change id kept for the wait); the record types written.
    pub(super) async fn side_dns(
        &self,
        alb: &elb::Alb,
        hostname: &str,
        t: Instant,
    ) -> Result<Vec<String>> {
        let dns::Upserted {
            types: records,
            change_id,
        } = self.dns(alb, hostname).await?;
        *self.dns_change.lock().expect("not poisoned") = change_id;
        let detail = format!("{hostname} → {} ({})", alb.dns_name, records.join(", "));
        self.steps.done(t, "dns", detail);
        Ok(records)
    }

    pub(super) async fn dns(&self, alb: &elb::Alb, hostname: &str) -> Result<dns::Upserted> {
        dns::upsert_alias(
            self.aws(),
            &self.profile.dynamic_zone_id,
            hostname,
            &alb.dns_name,
            &alb.canonical_zone_id,
            alb.dualstack,
        )
        .await
    }

    pub(super) async fn file(&self, hostname: &str) -> Result<bool> {
        let Some(f) = &self.profile.endpoints else {
            return Ok(false);
        };
        let name = format!("{}-{}", f.name_prefix, self.req.environment);
        endpoints_file::update(self.aws(), f, true, |doc| {
            endpoints_file::add(doc, &name, &f.update_key, hostname, &f.env_type)
        })
        .await
    }
}
